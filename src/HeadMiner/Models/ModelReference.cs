namespace HeadMiner.Models;

/// <summary>
/// What a user's model argument (<c>-m</c>) names. The rule: a path that exists on disk (file, folder, or a link, even
/// a dangling one the loader will then name) is always that path; only when nothing is there and the text has the
/// shape of a hub id (<c>org/name[@revision]</c>) is it looked up in the Hugging Face cache. So a local folder
/// called <c>org/name</c> can never be shadowed by the cache, and a typo in a path that is not id-shaped still reads
/// "no such file or directory".
/// </summary>
public static class ModelReference
{
    /// <summary>
    /// The path to load for <paramref name="argument"/>; a hub id becomes its snapshot folder in <paramref name="cache"/>.
    /// A relative path is looked for under <paramref name="baseDirectory"/> (the current directory when null).
    /// </summary>
    public static string Resolve(string argument, HubCache cache, string? baseDirectory = null)
    {
        string candidate = baseDirectory is null ? argument : Path.Combine(baseDirectory, argument);
        if (File.Exists(candidate) || Directory.Exists(candidate) || new FileInfo(candidate).LinkTarget is not null) return candidate;
        return HubCache.IsModelId(argument) ? cache.Resolve(argument) : candidate;
    }

    /// <summary>A short display name: the hub repo's name for a cache id (not the snapshot's commit folder), else null.</summary>
    public static string? DisplayName(string argument, string resolved) =>
        resolved != argument && HubCache.TryParseId(argument, out string repo, out _) ? repo[(repo.IndexOf('/') + 1)..] : null;
}
