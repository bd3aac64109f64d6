namespace HeadMiner.Tasks.Synthetic;

/// <summary>
/// Generated token-id sequences of one length, with a <see cref="PredictionKind"/> per position and the component
/// spans each sequence is made of (separators and BOS lie outside every span).
/// </summary>
public sealed class SyntheticSequences
{
    public int[][] Tokens { get; }
    public PredictionKind[][] Labels { get; }
    public ComponentSpan[][] Spans { get; }

    public SyntheticSequences(int[][] tokens, PredictionKind[][] labels, ComponentSpan[][] spans)
    {
        if (tokens.Length != labels.Length || tokens.Length != spans.Length)
            throw new ArgumentException($"{tokens.Length} token rows, {labels.Length} label rows, {spans.Length} span rows");
        for (int i = 0; i < tokens.Length; i++)
        {
            if (tokens[i].Length != labels[i].Length)
                throw new ArgumentException($"sequence {i}: {tokens[i].Length} tokens but {labels[i].Length} labels");
        }
        Tokens = tokens;
        Labels = labels;
        Spans = spans;
    }

    public int Count => Tokens.Length;

    /// <summary>The fraction of all positions labelled <paramref name="kind"/>.</summary>
    public double Fraction(PredictionKind kind)
    {
        long hits = 0, total = 0;
        foreach (var row in Labels)
        {
            total += row.Length;
            foreach (var label in row) if (label == kind) hits++;
        }
        return total == 0 ? 0 : (double)hits / total;
    }

    /// <summary>
    /// Mean next-token loss per <see cref="PredictionKind"/>. <paramref name="targetLosses"/> holds, sequence by
    /// sequence, the loss of predicting tokens 1 … T−1 (T − 1 values per sequence: the layout of
    /// <c>CrossEntropy.RowLosses</c> over <c>tokens[1..]</c>); the loss of token i is grouped by label i. Kinds with no
    /// positions are absent. This is how a training curve reports in-context loss on the repeats apart from the rest.
    /// </summary>
    public IReadOnlyDictionary<PredictionKind, double> MeanLossByKind(ReadOnlySpan<float> targetLosses)
    {
        long expected = 0;
        foreach (var row in Labels) expected += Math.Max(row.Length - 1, 0);
        if (targetLosses.Length != expected) throw new ArgumentException($"{Count} sequences need {expected} target losses, got {targetLosses.Length}");
        var sums = new double[Enum.GetValues<PredictionKind>().Length];
        var counts = new long[sums.Length];
        int offset = 0;
        foreach (var row in Labels)
        {
            for (int i = 1; i < row.Length; i++)
            {
                sums[(int)row[i]] += targetLosses[offset++];
                counts[(int)row[i]]++;
            }
        }
        var result = new Dictionary<PredictionKind, double>();
        for (int k = 0; k < sums.Length; k++) if (counts[k] > 0) result[(PredictionKind)k] = sums[k] / counts[k];
        return result;
    }

    /// <summary>The fraction of the positions covered by some span that <paramref name="component"/>'s spans cover.</summary>
    public double ComponentFraction(SyntheticComponent component)
    {
        long hits = 0, total = 0;
        foreach (var row in Spans)
        {
            foreach (var span in row)
            {
                total += span.Length;
                if (span.Component == component) hits += span.Length;
            }
        }
        return total == 0 ? 0 : (double)hits / total;
    }
}
