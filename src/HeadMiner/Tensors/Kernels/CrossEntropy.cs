using System.Numerics.Tensors;

namespace HeadMiner.Tensors.Kernels;

/// <summary>
/// Next-token cross-entropy from logits [rows, vocab] and one target id per row: loss = logsumexp(row) − row[target],
/// computed stably (max-shifted, sum in double). Rows whose target equals the ignore index (−100, PyTorch's default)
/// have loss 0 and gradient 0 and are not counted.
/// <para>
/// Special values: a NaN logit anywhere in a (non-ignored) row makes its loss and whole gradient row NaN. A +∞
/// logit makes the gradient row NaN (∞ − ∞ inside softmax) and the loss +∞ (the target's probability is 0), or NaN
/// when the target itself is the +∞ logit. −∞ logits are impossible tokens (probability 0, gradient 0); a −∞
/// target logit gives loss +∞.
/// </para>
/// </summary>
public static class CrossEntropy
{
    /// <summary>PyTorch's default ignore_index.</summary>
    public const int DefaultIgnoreIndex = -100;

    /// <summary>
    /// losses[r] = −log softmax(logits[r])[targets[r]]; 0 for ignored rows. Returns the number of rows not ignored.
    /// A target outside [0, vocab) that is not the ignore index is an error naming the row.
    /// </summary>
    public static int RowLosses(ReadOnlySpan<float> logits, int rows, int vocab, ReadOnlySpan<int> targets, Span<float> losses,
        int ignoreIndex = DefaultIgnoreIndex)
    {
        Check(logits.Length, rows, vocab, targets, ignoreIndex);
        Reductions.CheckOutput(losses.Length, rows, nameof(losses));
        int counted = 0;
        for (int r = 0; r < rows; r++)
        {
            if (targets[r] == ignoreIndex)
            {
                losses[r] = 0;
                continue;
            }
            var row = logits.Slice(r * vocab, vocab);
            losses[r] = (float)(Reductions.LogSumExp(row) - row[targets[r]]);
            counted++;
        }
        return counted;
    }

    /// <summary>Mean loss over the rows not ignored (NaN if every row is ignored, as PyTorch), in double.</summary>
    public static double MeanLoss(ReadOnlySpan<float> logits, int rows, int vocab, ReadOnlySpan<int> targets, int ignoreIndex = DefaultIgnoreIndex)
    {
        Check(logits.Length, rows, vocab, targets, ignoreIndex);
        double total = 0;
        int counted = 0;
        for (int r = 0; r < rows; r++)
        {
            if (targets[r] == ignoreIndex) continue;
            var row = logits.Slice(r * vocab, vocab);
            total += Reductions.LogSumExp(row) - row[targets[r]];
            counted++;
        }
        return counted == 0 ? double.NaN : total / counted;
    }

    /// <summary>
    /// The per-row terms of <see cref="MeanLoss"/> in double (terms[r] = logsumexp(logits[r]) − logits[r, target]; 0 for
    /// ignored rows) for a caller that computes row blocks on several threads: summing the terms of the rows not
    /// ignored in row order and dividing by their count (<see cref="MeanOfTerms"/>) gives MeanLoss's bits.
    /// </summary>
    public static void RowLossTerms(ReadOnlySpan<float> logits, int rows, int vocab, ReadOnlySpan<int> targets, Span<double> terms,
        int ignoreIndex = DefaultIgnoreIndex)
    {
        Check(logits.Length, rows, vocab, targets, ignoreIndex);
        if (terms.Length < rows) throw new ArgumentException($"terms has {terms.Length} elements, needs {rows}", nameof(terms));
        for (int r = 0; r < rows; r++)
        {
            if (targets[r] == ignoreIndex)
            {
                terms[r] = 0;
                continue;
            }
            var row = logits.Slice(r * vocab, vocab);
            terms[r] = Reductions.LogSumExp(row) - row[targets[r]];
        }
    }

    /// <summary><see cref="MeanLoss"/> from the terms of <see cref="RowLossTerms"/>: the same sum in the same order.</summary>
    public static double MeanOfTerms(ReadOnlySpan<double> terms, ReadOnlySpan<int> targets, int ignoreIndex = DefaultIgnoreIndex)
    {
        double total = 0;
        int counted = 0;
        for (int r = 0; r < targets.Length; r++)
        {
            if (targets[r] == ignoreIndex) continue;
            total += terms[r];
            counted++;
        }
        return counted == 0 ? double.NaN : total / counted;
    }

    /// <summary>
    /// Gradient of Σ_r lossGradient[r]·losses[r] w.r.t. the logits: dLogits[r] = lossGradient[r]·(softmax(logits[r]) −
    /// onehot(targets[r])); ignored rows get 0. For the mean loss pass lossGradient[r] = 1/count. dLogits may be the
    /// same span as logits.
    /// </summary>
    public static void Backward(ReadOnlySpan<float> logits, int rows, int vocab, ReadOnlySpan<int> targets, ReadOnlySpan<float> lossGradient,
        Span<float> dLogits, int ignoreIndex = DefaultIgnoreIndex)
    {
        Check(logits.Length, rows, vocab, targets, ignoreIndex);
        Reductions.CheckOutput(lossGradient.Length, rows, nameof(lossGradient));
        Reductions.CheckBlock(dLogits.Length, rows, vocab);
        for (int r = 0; r < rows; r++)
        {
            var dr = dLogits.Slice(r * vocab, vocab);
            int target = targets[r];
            if (target == ignoreIndex)
            {
                dr.Clear();
                continue;
            }
            if (!logits.Overlaps(dLogits)) logits.Slice(r * vocab, vocab).CopyTo(dr);
            else if (!logits.Slice(r * vocab, vocab).Overlaps(dr, out int offset) || offset != 0)
                throw new ArgumentException("dLogits must be the same span as logits or not overlap it", nameof(dLogits));
            Softmax.Rows(dr, 1, vocab);
            dr[target] -= 1f;
            TensorPrimitives.Multiply(dr, lossGradient[r], dr);
        }
    }

    private static void Check(int logitsLength, int rows, int vocab, ReadOnlySpan<int> targets, int ignoreIndex)
    {
        Reductions.CheckBlock(logitsLength, rows, vocab);
        if (targets.Length < rows) throw new ArgumentException($"{targets.Length} targets for {rows} rows", nameof(targets));
        for (int r = 0; r < rows; r++)
        {
            int t = targets[r];
            if (t != ignoreIndex && (uint)t >= (uint)vocab)
                throw new ArgumentOutOfRangeException(nameof(targets), $"target id {t} at row {r} is outside the vocabulary [0, {vocab})");
        }
    }
}
