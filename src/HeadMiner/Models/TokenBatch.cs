namespace HeadMiner.Models;

/// <summary>
/// Token ids for a batched forward: <see cref="Batch"/> sequences of <see cref="Length"/> ids, row-major, with an
/// optional mask (false = padding). Positions count only real tokens, so a left-padded sequence gets the same
/// positions, and the same logits at its real tokens, as when it runs alone.
/// </summary>
public sealed class TokenBatch
{
    public int[] Ids { get; }
    public int Batch { get; }
    public int Length { get; }
    public bool[]? Mask { get; }

    public TokenBatch(int[] ids, int batch, int length, bool[]? mask = null)
    {
        if (batch <= 0 || length <= 0) throw new HeadMinerException($"a token batch needs at least one sequence and one token (got {batch}×{length})");
        if (ids.Length != batch * length) throw new HeadMinerException($"{ids.Length} token ids do not fill a {batch}×{length} batch");
        if (mask is not null && mask.Length != ids.Length) throw new HeadMinerException($"mask has {mask.Length} entries for {ids.Length} tokens");
        Ids = ids;
        Batch = batch;
        Length = length;
        Mask = mask;
    }

    public static TokenBatch Single(ReadOnlySpan<int> ids) => new(ids.ToArray(), 1, ids.Length);

    /// <summary>Sequences of different lengths, padded on the left with <paramref name="padId"/> (masked out).</summary>
    public static TokenBatch LeftPadded(IReadOnlyList<int[]> sequences, int padId = 0)
    {
        int length = sequences.Max(s => s.Length);
        var ids = new int[sequences.Count * length];
        var mask = new bool[ids.Length];
        for (int b = 0; b < sequences.Count; b++)
        {
            int pad = length - sequences[b].Length;
            for (int t = 0; t < length; t++)
            {
                ids[b * length + t] = t < pad ? padId : sequences[b][t - pad];
                mask[b * length + t] = t >= pad;
            }
        }
        return new TokenBatch(ids, sequences.Count, length, mask);
    }

    public bool IsReal(int b, int t) => Mask is null || Mask[b * Length + t];

    /// <summary>Position of every token: the number of real tokens before it in its sequence (0 for padding before any).</summary>
    public int[] Positions()
    {
        var positions = new int[Ids.Length];
        for (int b = 0; b < Batch; b++)
        {
            int seen = 0;
            for (int t = 0; t < Length; t++)
            {
                positions[b * Length + t] = Math.Max(seen - (IsReal(b, t) ? 0 : 1), 0);
                if (IsReal(b, t)) seen++;
            }
        }
        return positions;
    }

    /// <summary>Index within its sequence of the last real token of sequence <paramref name="b"/>.</summary>
    public int LastReal(int b)
    {
        for (int t = Length - 1; t >= 0; t--)
            if (IsReal(b, t)) return t;
        return Length - 1;
    }
}
