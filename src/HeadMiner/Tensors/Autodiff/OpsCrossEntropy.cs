using System.Buffers;
using HeadMiner.Tensors.Kernels;

namespace HeadMiner.Tensors.Autodiff;

public static partial class Ops
{
    /// <summary>
    /// Mean next-token cross-entropy of logits [rows, vocab] against one target per row, over the rows whose target
    /// is not <paramref name="ignoreIndex"/>: a scalar [1] (NaN when every row is ignored). Backward:
    /// dlogits += dloss/count · (softmax − onehot).
    /// </summary>
    public static Variable CrossEntropy(Tape tape, Variable logits, int[] targets, int ignoreIndex = Kernels.CrossEntropy.DefaultIgnoreIndex)
    {
        ArgumentNullException.ThrowIfNull(tape);
        ArgumentNullException.ThrowIfNull(targets);
        int vocab = Features(logits, nameof(logits));
        int rows = logits.Value.Length / vocab;
        if (targets.Length != rows) throw new ArgumentException($"{targets.Length} targets for {rows} rows", nameof(targets));
        var loss = Result(tape, [1], logits);
        if ((long)rows * vocab <= ParallelChunk || WorkerPool.MaxThreads == 1)
            loss.Value.Span[0] = (float)Kernels.CrossEntropy.MeanLoss(logits.Value.Span, rows, vocab, targets, ignoreIndex);
        else
        {
            // Row blocks on the worker threads, then MeanLoss's sum in its order: the same bits.
            var terms = ArrayPool<double>.Shared.Rent(rows);
            ForRows(rows, vocab, (r0, n) => Kernels.CrossEntropy.RowLossTerms(logits.Value.Span.Slice(r0 * vocab, n * vocab), n, vocab,
                targets.AsSpan(r0, n), terms.AsSpan(r0, n), ignoreIndex));
            loss.Value.Span[0] = (float)Kernels.CrossEntropy.MeanOfTerms(terms.AsSpan(0, rows), targets, ignoreIndex);
            ArrayPool<double>.Shared.Return(terms);
        }
        int counted = 0;
        foreach (int t in targets) if (t != ignoreIndex) counted++;
        tape.Record(loss, () =>
        {
            if (counted == 0) return; // no row contributes
            var rowGradient = ArrayPool<float>.Shared.Rent(rows);
            rowGradient.AsSpan(0, rows).Fill(loss.Gradient!.Span[0] / counted);
            _ = logits.BeginGradientWrite(out var scratch);
            var dLogits = scratch is null ? logits.Gradient! : Tensor.Wrap(scratch, logits.Value.Length);
            ForRows(rows, vocab, (r0, n) => Kernels.CrossEntropy.Backward(logits.Value.Span.Slice(r0 * vocab, n * vocab), n, vocab,
                targets.AsSpan(r0, n), rowGradient.AsSpan(r0, n), dLogits.Span.Slice(r0 * vocab, n * vocab), ignoreIndex));
            logits.EndGradientWrite(scratch);
            ArrayPool<float>.Shared.Return(rowGradient);
        });
        return loss;
    }
}
