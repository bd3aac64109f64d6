using HeadMiner.Analysis.Detectors;

namespace HeadMiner.Analysis.Atlas;

/// <summary>What the atlas runs and how hard it checks.</summary>
public sealed record AtlasOptions
{
    /// <summary>Comma-separated detector ids, or null / "all" for every registered detector.</summary>
    public string? Detectors { get; init; }

    /// <summary>Options every detector receives (seed, prompt counts, BOS handling).</summary>
    public DetectorOptions Detector { get; init; } = new();

    /// <summary>
    /// At most this many labelled heads per detector (best first) are ablated, each alone and all together, in the
    /// causal check; labelled heads beyond it are not graded.
    /// </summary>
    public int CausalHeads { get; init; } = 8;

    /// <summary>Random sets of as many unlabelled heads, ablated together for comparison with the labelled set.</summary>
    public int RandomDraws { get; init; } = 20;

    /// <summary>Random single heads the alone effects are ranked among: every unlabelled head up to this many, else a seeded sample of this many.</summary>
    public int RandomHeads { get; init; } = 48;

    /// <summary>Attention examples kept per head for the report.</summary>
    public int ExamplesPerHead { get; init; } = 3;

    /// <summary>
    /// These options for a model of <paramref name="contextLength"/> tokens: pattern prompts are BOS + 2 segments, so
    /// a short-context model gets a shorter segment instead of failing; too short for any repeat is an error.
    /// </summary>
    /// <summary>Notes copied into the report (how the run was set up, e.g. the prompt vocabulary a model declared).</summary>
    public IReadOnlyList<string> Notes { get; init; } = [];

    /// <summary>
    /// <see cref="ForContext"/> plus the model directory's <see cref="AnalysisHints"/> (headminer.json): the prompt
    /// vocabulary it declares, noted in the report. What `headminer atlas` and the explorer's on-demand atlas both use.
    /// </summary>
    public AtlasOptions ForModel(Models.LoadedModel loaded)
    {
        var options = ForContext(loaded.Model.Config.ContextLength, loaded.Path);
        if (AnalysisHints.Load(loaded.Path, loaded.Model.Config.VocabSize) is not { } hints || hints.PromptTokenRanges.Count == 0) return options;
        var ranges = string.Join(", ", hints.PromptTokenRanges.Select(r => $"{r.First}–{r.Last}"));
        return options with
        {
            Detector = options.Detector with { PromptTokens = hints.PromptTokens() },
            Notes = [.. options.Notes, $"random-token prompts draw from {hints.PromptTokens().Count} ids ({ranges}) declared in {AnalysisHints.FileName}: {hints.Note}"],
        };
    }

    public AtlasOptions ForContext(int contextLength, string source)
    {
        int segment = Math.Min(Detector.SegmentLength, (contextLength - 1) / 2);
        if (segment < 2) throw new HeadMinerException($"{source}: a context of {contextLength} tokens is too short for repeated-token prompts");
        return this with { Detector = Detector with { SegmentLength = segment } };
    }

    public void Validate()
    {
        Detector.Validate();
        if (CausalHeads < 1) throw new HeadMinerException($"atlas options: causal heads {CausalHeads} must be at least 1");
        if (RandomDraws < 1) throw new HeadMinerException($"atlas options: random draws {RandomDraws} must be at least 1");
        if (RandomHeads < 1) throw new HeadMinerException($"atlas options: random heads {RandomHeads} must be at least 1");
        if (ExamplesPerHead < 0) throw new HeadMinerException($"atlas options: examples per head {ExamplesPerHead} must not be negative");
    }
}
