namespace HeadMiner.Analysis.Atlas;

/// <summary>Where the atlas is: detector <see cref="Index"/> of <see cref="Count"/>, and what it is doing.</summary>
public sealed record AtlasProgress(string DetectorId, int Index, int Count, string Phase, double? Seconds = null, string? Detail = null);
