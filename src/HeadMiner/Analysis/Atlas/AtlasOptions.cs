using HeadMiner.Analysis.Detectors;

namespace HeadMiner.Analysis.Atlas;

/// <summary>What the atlas runs and how hard it checks.</summary>
public sealed record AtlasOptions
{
    /// <summary>Comma-separated detector ids, or null / "all" for every registered detector.</summary>
    public string? Detectors { get; init; }

    /// <summary>Options every detector receives (seed, prompt counts, BOS handling).</summary>
    public DetectorOptions Detector { get; init; } = new();

    /// <summary>At most this many top-scoring heads are ablated together in the causal check.</summary>
    public int CausalHeads { get; init; } = 3;

    /// <summary>Random sets of as many other heads, ablated for comparison.</summary>
    public int RandomDraws { get; init; } = 5;

    /// <summary>Attention examples kept per head for the report.</summary>
    public int ExamplesPerHead { get; init; } = 3;

    /// <summary>
    /// These options for a model of <paramref name="contextLength"/> tokens: pattern prompts are BOS + 2 segments, so
    /// a short-context model gets a shorter segment instead of failing; too short for any repeat is an error.
    /// </summary>
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
        if (ExamplesPerHead < 0) throw new HeadMinerException($"atlas options: examples per head {ExamplesPerHead} must not be negative");
    }
}
