namespace HeadMiner.Analysis.Detectors;

/// <summary>Every head detector, one line each; the atlas and `headminer detect` run them from here.</summary>
public static class DetectorRegistry
{
    public static readonly IReadOnlyList<IHeadDetector> All =
    [
        new PreviousTokenDetector(),
        new DuplicateTokenDetector(),
        new InductionDetector(),
        new PositionalDetector(),
        new AttentionSinkDetector(),
        new RareWordsDetector(),
        new SubwordMergeDetector(),
        new OvCopyingDetector(),
        new NegativeCopyingDetector(),
        new KCompositionDetector(),
        new NameMoverDetector(),
        new NegativeNameMoverDetector(),
        new SInhibitionDetector(),
        new RetrievalDetector(),
        new SuccessorDetector(),
        new ConstantMcqaDetector(),
        new SingleLetterMcqaDetector(),
        new CorrectLetterMcqaDetector(),
        new NegativeNasDetector(),
        new GreaterThanDetector(),
        new LetterMoverDetector(),
    ];

    public static IEnumerable<string> Ids => All.Select(d => d.Id);

    public static IHeadDetector? Find(string id) => All.FirstOrDefault(d => d.Id == id);

    /// <summary>The detector with this id, or a <see cref="HeadMinerException"/> listing the known ones.</summary>
    public static IHeadDetector Get(string id) => Find(id)
        ?? throw new HeadMinerException($"unknown detector \"{id}\"; known: {string.Join(", ", Ids)}");

    /// <summary>Detectors named in a comma-separated list ("all" or empty: every one), in registry order.</summary>
    public static IReadOnlyList<IHeadDetector> Parse(string? list)
    {
        if (string.IsNullOrWhiteSpace(list) || list.Trim() == "all") return All;
        var wanted = list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(Get).ToHashSet();
        return [.. All.Where(wanted.Contains)];
    }
}
