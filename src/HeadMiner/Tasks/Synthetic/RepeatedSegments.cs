using HeadMiner.Tensors;

namespace HeadMiner.Tasks.Synthetic;

/// <summary>
/// The induction task ("repeated random tokens"): a random segment of <see cref="SegmentLength"/> tokens from
/// [<see cref="FirstTokenId"/>, <see cref="FirstTokenId"/> + <see cref="TokenCount"/>) repeated until the sequence is
/// full (the last copy may be cut short), after an optional BOS.
/// <para>
/// Labels: the first copy is <see cref="PredictionKind.Random"/>. In the copies a token is
/// <see cref="PredictionKind.Induction"/> when the token before it has already been followed by it earlier — every
/// repeated token except the first token of the second copy, whose predecessor (the segment's last token) has not
/// been followed by anything yet, so it stays <see cref="PredictionKind.Random"/>. With
/// <see cref="DistinctTokens"/> (the default) a segment never holds a token twice, so "what followed it last time" has
/// one answer and the Induction label is exact.
/// </para>
/// </summary>
public sealed class RepeatedSegments : SequenceGenerator
{
    public int SegmentLength { get; }
    public int FirstTokenId { get; }
    public int TokenCount { get; }
    public int? BosId { get; }
    public bool DistinctTokens { get; }

    public RepeatedSegments(int segmentLength, int firstTokenId, int tokenCount, int? bosId = null, bool distinctTokens = true)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(segmentLength, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(firstTokenId);
        ArgumentOutOfRangeException.ThrowIfLessThan(tokenCount, 1);
        if (distinctTokens && segmentLength > tokenCount)
            throw new ArgumentException($"a segment of {segmentLength} distinct tokens needs at least that many ids, got {tokenCount}");
        SegmentLength = segmentLength;
        FirstTokenId = firstTokenId;
        TokenCount = tokenCount;
        BosId = bosId;
        DistinctTokens = distinctTokens;
    }

    /// <summary>BOS (if any) and two full copies: anything shorter has no repeat to test.</summary>
    public override int MinLength => (BosId is null ? 0 : 1) + 2 * SegmentLength;

    public override ComponentSpan[] Fill(SeededRandom random, Span<int> tokens, Span<PredictionKind> labels)
    {
        int start = 0;
        if (BosId is int bos)
        {
            tokens[0] = bos;
            labels[0] = PredictionKind.Special;
            start = 1;
        }
        FillBlock(random, tokens[start..], labels[start..], SegmentLength, FirstTokenId, TokenCount, DistinctTokens);
        return [new ComponentSpan(SyntheticComponent.RepeatedSegments, start, tokens.Length - start)];
    }

    /// <summary>Fills a whole block with copies of one random segment of <paramref name="segmentLength"/> tokens, labelled as the class describes.</summary>
    public static void FillBlock(SeededRandom random, Span<int> tokens, Span<PredictionKind> labels, int segmentLength,
        int firstTokenId, int tokenCount, bool distinctTokens)
    {
        int drawn = Math.Min(segmentLength, tokens.Length);
        if (distinctTokens) DrawDistinct(random, tokens[..drawn], firstTokenId, tokenCount);
        else for (int i = 0; i < drawn; i++) tokens[i] = firstTokenId + random.NextInt(tokenCount);
        for (int i = 0; i < tokens.Length; i++)
        {
            if (i >= segmentLength) tokens[i] = tokens[i - segmentLength];
            labels[i] = i > segmentLength ? PredictionKind.Induction : PredictionKind.Random;
        }
    }

    /// <summary>Distinct ids without building the whole range: redraw on collision (segments are short next to the range).</summary>
    private static void DrawDistinct(SeededRandom random, Span<int> tokens, int firstTokenId, int tokenCount)
    {
        if (tokens.Length * 2 > tokenCount)
        {
            // Dense case: a partial Fisher–Yates over the range.
            var ids = new int[tokenCount];
            for (int i = 0; i < tokenCount; i++) ids[i] = firstTokenId + i;
            for (int i = 0; i < tokens.Length; i++)
            {
                int j = i + random.NextInt(tokenCount - i);
                (ids[i], ids[j]) = (ids[j], ids[i]);
                tokens[i] = ids[i];
            }
            return;
        }
        for (int i = 0; i < tokens.Length; i++)
        {
            int id;
            do id = firstTokenId + random.NextInt(tokenCount);
            while (tokens[..i].Contains(id));
            tokens[i] = id;
        }
    }
}
