using HeadMiner.Analysis.Calibration;
namespace HeadMiner.Analysis.Detectors;

/// <summary>
/// Rare-word heads: attention goes to the least frequent tokens of the context. Frequency is read from the token id:
/// byte-pair vocabularies number merges in the order they were learned (most frequent pair first) and SentencePiece
/// vocabularies are sorted by score, so among a prompt's tokens a higher id is a rarer token. The caveat: single
/// bytes/characters get low ids whatever their frequency. In each passage the ⌈15%⌉ non-BOS positions with the
/// highest ids are "rare"; the score is the share of a head's attention to earlier keys that lands on rare ones
/// (<see cref="TextPatternDetector"/>).
/// </summary>
public sealed class RareWordsDetector : TextPatternDetector
{
    /// <summary>Share of a passage's tokens counted as rare.</summary>
    public const double RareShare = 0.15;

    public override string Id => "rare_words";

    public override string Description =>
        "attends to the rarest tokens of the context (highest ids, i.e. latest merges); score = share of attention to earlier keys on the passage's rarest 15% of tokens";

    protected override string TargetNote => $"targets: the {RareShare:P0} of each passage's non-BOS tokens with the highest ids (latest BPE merges / lowest SentencePiece scores)";

    protected override bool[] Targets(DetectorContext context, int[] ids, int first)
    {
        int T = ids.Length, count = Math.Max(1, (int)Math.Ceiling(RareShare * (T - first)));
        var rare = Enumerable.Range(first, T - first).OrderByDescending(i => ids[i]).ThenBy(i => i).Take(count).ToHashSet();
        var mask = new bool[T * T];
        for (int i = 0; i < T; i++)
            for (int j = first; j < i; j++) mask[i * T + j] = rare.Contains(j);
        return mask;
    }

    protected override double? BaselineMultiple(double baseline, float threshold) => baseline > 0 ? threshold / baseline : null;

    protected override (float, string) Threshold(double baseline)
    {
        float value = (float)Math.Min(0.9, 3 * baseline);
        return (value, $"three times the share even attention gives the rare keys ({baseline:0.000})");
    }
}
