namespace HeadMiner.Explorer;

/// <summary>A model given on the command line: its path and, optionally, a saved atlas.json for it.</summary>
public sealed record ExplorerModelSpec(string Path, string? AtlasPath = null);
