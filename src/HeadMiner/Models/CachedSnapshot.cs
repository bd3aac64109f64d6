namespace HeadMiner.Models;

/// <summary>One snapshot folder of the Hugging Face cache: a repository at one commit, and the refs naming it.</summary>
/// <param name="Repo">The hub id, <c>org/name</c>.</param>
/// <param name="Commit">The snapshot folder's name (a commit hash).</param>
/// <param name="Refs">Branches and tags in <c>refs/</c> that point at this commit (often just "main"; none for an old one).</param>
/// <param name="Directory">The snapshot folder, which <see cref="ModelLoader"/> loads like any model directory.</param>
public sealed record CachedSnapshot(string Repo, string Commit, IReadOnlyList<string> Refs, string Directory)
{
    /// <summary>The id that loads exactly this snapshot: <c>org/name</c> for refs/main, else <c>org/name@ref</c> or a commit prefix.</summary>
    public string Id => Refs.Contains("main") ? Repo : Refs.Count > 0 ? $"{Repo}@{Refs[0]}" : $"{Repo}@{(Commit.Length > 12 ? Commit[..12] : Commit)}";
}
