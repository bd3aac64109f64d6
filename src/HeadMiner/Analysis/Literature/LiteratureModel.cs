namespace HeadMiner.Analysis.Literature;

/// <summary>
/// A model the literature describes: its id ("gpt2"), shape, the weight fingerprints that identify it
/// (<see cref="WeightFingerprint"/>) and the facts published about it.
/// </summary>
public sealed record LiteratureModel
{
    public required string Id { get; init; }
    public required string Name { get; init; }
    public required int Layers { get; init; }
    public required int Heads { get; init; }
    public required IReadOnlyList<string> Fingerprints { get; init; }

    /// <summary>Where the registered fingerprint was computed from.</summary>
    public string? FingerprintSource { get; init; }

    public required IReadOnlyList<LiteratureFact> Facts { get; init; }

    /// <summary>The fingerprint a loaded model matched by (<see cref="LiteratureRegistry.Match(HeadMiner.Models.LoadedModel)"/>); null when looked up by id.</summary>
    public string? MatchedFingerprint { get; init; }
}
