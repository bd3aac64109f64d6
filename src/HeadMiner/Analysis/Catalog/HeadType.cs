using System.Text.Json.Serialization;

namespace HeadMiner.Analysis.Catalog;

/// <summary>
/// One head type of the catalog. <see cref="Id"/> is stable (snake_case) and is what reports and the atlas key on;
/// <see cref="Aliases"/> are the tags the survey's paper list uses for the same type; <see cref="Detector"/> names
/// the detector that scores it, or is null when HeadMiner cannot measure it (such types are listed, not hidden).
/// </summary>
public sealed record HeadType
{
    [JsonPropertyName("id")] public required string Id { get; init; }
    [JsonPropertyName("name")] public required string Name { get; init; }
    [JsonPropertyName("aliases")] public IReadOnlyList<string> Aliases { get; init; } = [];
    [JsonPropertyName("stage")] public required string StageText { get; init; }

    /// <summary>Why the type sits in its stage, when the survey's table does not list it (our decision).</summary>
    [JsonPropertyName("stage_note")] public string? StageNote { get; init; }

    /// <summary>What the head does, in one line.</summary>
    [JsonPropertyName("function")] public required string Function { get; init; }

    [JsonPropertyName("detector")] public string? Detector { get; init; }

    /// <summary>Other detectors whose scores bear on this type (e.g. K-composition for induction heads).</summary>
    [JsonPropertyName("related_detectors")] public IReadOnlyList<string> RelatedDetectors { get; init; } = [];

    /// <summary>What the detector does and does not establish about this type, when that needs saying.</summary>
    [JsonPropertyName("detector_note")] public string? DetectorNote { get; init; }

    [JsonPropertyName("papers")] public IReadOnlyList<HeadPaper> Papers { get; init; } = [];

    /// <summary>The stage as an enum (validated when the catalog loads).</summary>
    [JsonIgnore] public HeadStage Stage => HeadStages.TryParse(StageText) ?? throw new HeadMinerException($"head type {Id}: unknown stage \"{StageText}\"");

    [JsonIgnore] public bool IsDetectable => Detector is not null;
}
