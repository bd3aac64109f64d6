namespace HeadMiner.Explorer;

/// <summary>
/// A model given on the command line: its path, optionally a saved atlas.json for it, and optionally the name its id
/// is made from (a Hugging Face cache id's repo name; by default the path's last part, which for a cache snapshot
/// would be a commit hash).
/// </summary>
public sealed record ExplorerModelSpec(string Path, string? AtlasPath = null, string? Name = null);
