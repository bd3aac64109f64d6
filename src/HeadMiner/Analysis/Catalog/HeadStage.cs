namespace HeadMiner.Analysis.Catalog;

/// <summary>
/// The survey's four stages of a forward pass (docs/HEAD-MINING.md). Every head type is filed under exactly one, so
/// the atlas can group its findings the way the literature reads them.
/// </summary>
public enum HeadStage
{
    /// <summary>Knowledge Recalling: parametric knowledge about the prompt's entities enters the residual stream.</summary>
    KR,

    /// <summary>In-Context Identification: structure, syntax and semantics of the context are located.</summary>
    ICI,

    /// <summary>Latent Reasoning: in-context learning and task reasoning.</summary>
    LR,

    /// <summary>Expression Preparation: the result is amplified and shaped for output.</summary>
    EP,
}

/// <summary>Parsing and naming of <see cref="HeadStage"/>.</summary>
public static class HeadStages
{
    /// <summary>The four stages in forward-pass order.</summary>
    public static IReadOnlyList<HeadStage> All { get; } = [HeadStage.KR, HeadStage.ICI, HeadStage.LR, HeadStage.EP];

    /// <summary>The stage spelled <paramref name="text"/> (case-insensitive), or null when it is none of the four.</summary>
    public static HeadStage? TryParse(string text) => text.Trim().ToUpperInvariant() switch
    {
        "KR" => HeadStage.KR,
        "ICI" => HeadStage.ICI,
        "LR" => HeadStage.LR,
        "EP" => HeadStage.EP,
        _ => null,
    };

    /// <summary>The stage's full name ("In-Context Identification").</summary>
    public static string LongName(this HeadStage stage) => stage switch
    {
        HeadStage.KR => "Knowledge Recalling",
        HeadStage.ICI => "In-Context Identification",
        HeadStage.LR => "Latent Reasoning",
        _ => "Expression Preparation",
    };
}
