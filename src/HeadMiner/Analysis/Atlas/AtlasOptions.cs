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
    /// Whether the atlas finds each task's circuit (<see cref="AtlasCircuitRunner"/>): a few forwards and backwards per
    /// task set. Null (the default) decides by the run: on for a whole atlas (no <see cref="Detectors"/> subset) of a
    /// model up to <see cref="AutoCircuitsMaxParameters"/>, off otherwise (a detector subset asks for those detectors;
    /// on a large model EAP-IG's backward passes would dominate the atlas). `atlas --circuits` / `--no-circuits` decide.
    /// </summary>
    public bool? Circuits { get; init; }

    /// <summary>The largest model (estimated parameters: 12·layers·d_model² + vocabulary·d_model) whose whole atlas finds circuits by default.</summary>
    public const long AutoCircuitsMaxParameters = 150_000_000;

    /// <summary>Notes copied into the report (how the run was set up, e.g. the prompt vocabulary a model declared).</summary>
    public IReadOnlyList<string> Notes { get; init; } = [];

    /// <summary>
    /// <see cref="DetectorOptions.ForModel"/> (segment fit + the model directory's headminer.json), noted in the report:
    /// what `headminer atlas`, `headminer detect` and the explorer's on-demand atlas all use.
    /// </summary>
    public AtlasOptions ForModel(Models.LoadedModel loaded)
    {
        var (detector, notes) = Detector.ForModel(loaded);
        return this with { Detector = detector, Notes = [.. Notes, .. notes] };
    }

    public AtlasOptions ForContext(int contextLength, string source) => this with { Detector = Detector.ForContext(contextLength, source) };

    public void Validate()
    {
        Detector.Validate();
        if (CausalHeads < 1) throw new HeadMinerException($"atlas options: causal heads {CausalHeads} must be at least 1");
        if (RandomDraws < 1) throw new HeadMinerException($"atlas options: random draws {RandomDraws} must be at least 1");
        if (RandomHeads < 1) throw new HeadMinerException($"atlas options: random heads {RandomHeads} must be at least 1");
        if (ExamplesPerHead < 0) throw new HeadMinerException($"atlas options: examples per head {ExamplesPerHead} must not be negative");
    }
}
