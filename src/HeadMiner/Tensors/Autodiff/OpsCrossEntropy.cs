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
        loss.Value.Span[0] = (float)Kernels.CrossEntropy.MeanLoss(logits.Value.Span, rows, vocab, targets, ignoreIndex);
        int counted = 0;
        foreach (int t in targets) if (t != ignoreIndex) counted++;
        tape.Record(loss, () =>
        {
            if (counted == 0) return; // no row contributes
            var rowGradient = ArrayPool<float>.Shared.Rent(rows);
            rowGradient.AsSpan(0, rows).Fill(loss.Gradient!.Span[0] / counted);
            var dLogits = logits.BeginGradientWrite(out var scratch);
            Kernels.CrossEntropy.Backward(logits.Value.Span, rows, vocab, targets, rowGradient.AsSpan(0, rows), dLogits, ignoreIndex);
            logits.EndGradientWrite(scratch);
            ArrayPool<float>.Shared.Return(rowGradient);
        });
        return loss;
    }
}
