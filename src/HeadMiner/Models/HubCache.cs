using System.Text.RegularExpressions;
using HeadMiner.Models.Formats;

namespace HeadMiner.Models;

/// <summary>
/// The local Hugging Face hub cache, read the way <c>huggingface_hub</c> writes it, so a model a researcher already
/// downloaded is named by its id (<c>org/name[@revision]</c>) instead of a snapshot path. Layout of one model:
/// <c>models--org--name/refs/&lt;branch or tag&gt;</c> (a file holding a commit hash),
/// <c>snapshots/&lt;commit&gt;/&lt;files&gt;</c> (relative links into <c>../../blobs/</c>) and <c>blobs/</c>. Nothing
/// here reads the process environment: the caller passes it (the CLI the real one, tests a dictionary).
/// </summary>
public sealed partial class HubCache
{
    private const string ModelPrefix = "models--";

    public HubCache(string root, string source)
    {
        Root = Path.GetFullPath(root);
        Source = source;
    }

    /// <summary>The hub folder (the one holding <c>models--*</c> folders).</summary>
    public string Root { get; }

    /// <summary>Which setting chose <see cref="Root"/>, for messages: "HF_HUB_CACHE", "HF_HOME", "default".</summary>
    public string Source { get; }

    /// <summary>
    /// The cache <c>huggingface_hub</c> itself would use: <c>HF_HUB_CACHE</c> (or its older name
    /// <c>HUGGINGFACE_HUB_CACHE</c>), else <c>HF_HOME/hub</c>, else <c>XDG_CACHE_HOME/huggingface/hub</c>, else
    /// <c>~/.cache/huggingface/hub</c>. An empty variable counts as unset, and a leading <c>~</c> is the home folder,
    /// as Python's <c>expanduser</c> treats it.
    /// </summary>
    public static HubCache FromEnvironment(Func<string, string?> variable)
    {
        string? Get(string name) => variable(name) is { Length: > 0 } value ? value : null;
        string home = Get("HOME") ?? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        string Expand(string p) => p == "~" ? home : p.StartsWith("~/", StringComparison.Ordinal) ? Path.Combine(home, p[2..]) : p;

        if (Get("HF_HUB_CACHE") is string hub) return new HubCache(Expand(hub), "HF_HUB_CACHE");
        if (Get("HUGGINGFACE_HUB_CACHE") is string legacy) return new HubCache(Expand(legacy), "HUGGINGFACE_HUB_CACHE");
        if (Get("HF_HOME") is string hfHome) return new HubCache(Path.Combine(Expand(hfHome), "hub"), "HF_HOME");
        if (Get("XDG_CACHE_HOME") is string xdg) return new HubCache(Path.Combine(Expand(xdg), "huggingface", "hub"), "XDG_CACHE_HOME");
        return new HubCache(Path.Combine(home, ".cache", "huggingface", "hub"), "default");
    }

    /// <summary>Where the root came from, said the way a user would set it ("HF_HUB_CACHE=/x", "~/.cache/huggingface/hub").</summary>
    public string Describe() => Source == "default" ? $"{Root} (the default, ~/.cache/huggingface/hub)" : $"{Root} (from {Source})";

    // A hub id: org/name with the characters the Hub allows, then an optional @revision (branch, tag or commit; a
    // revision such as refs/pr/1 contains slashes).
    [GeneratedRegex(@"^(?<repo>[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*)(@(?<rev>[A-Za-z0-9._/-]+))?$")]
    private static partial Regex IdPattern();

    /// <summary>Whether <paramref name="text"/> has the shape of a hub id (<c>org/name</c> or <c>org/name@revision</c>).</summary>
    public static bool IsModelId(string text) => TryParseId(text, out _, out _);

    /// <summary>Splits <c>org/name[@revision]</c>; false for anything else (including a revision with a ".." step).</summary>
    public static bool TryParseId(string text, out string repo, out string? revision)
    {
        var m = IdPattern().Match(text);
        repo = m.Success ? m.Groups["repo"].Value : "";
        revision = m.Success && m.Groups["rev"].Success ? m.Groups["rev"].Value : null;
        if (!m.Success || repo.Contains("..", StringComparison.Ordinal) || repo.Contains("--", StringComparison.Ordinal)) return false;
        // A revision names a file under refs/: no step may leave that folder.
        return revision is null || revision.Split('/').All(step => step.Length > 0 && step != "." && step != "..");
    }

    /// <summary>The cache folder of <paramref name="repo"/> (<c>org/name</c> → <c>models--org--name</c>).</summary>
    public string RepoFolder(string repo) => Path.Combine(Root, ModelPrefix + repo.Replace("/", "--", StringComparison.Ordinal));

    /// <summary>
    /// The snapshot folder of <paramref name="id"/> (<c>org/name[@revision]</c>). The revision is a name in
    /// <c>refs/</c> or a commit (full or an unambiguous prefix); without one, <c>refs/main</c>, or the only snapshot
    /// when there is no <c>refs/main</c>. Anything else is one <see cref="HeadMinerException"/> saying what was
    /// searched, what is there, and how to get the model into the cache.
    /// </summary>
    public string Resolve(string id)
    {
        if (!TryParseId(id, out string repo, out string? revision))
            throw new HeadMinerException($"\"{ErrorText.Clip(id)}\" is not a Hugging Face model id (org/name or org/name@revision)");
        string folder = RepoFolder(repo);
        if (!Directory.Exists(folder)) throw NotCached(id, repo);
        string snapshots = Path.Combine(folder, "snapshots");
        var commits = Directory.Exists(snapshots)
            ? Directory.GetDirectories(snapshots).Select(d => Path.GetFileName(d)!).Order(StringComparer.Ordinal).ToArray()
            : [];
        if (commits.Length == 0)
            throw new HeadMinerException($"{folder}: the cache holds no snapshot of {repo} (an interrupted download?); {HowToDownload(repo)}");

        if (revision is null)
        {
            if (File.Exists(Path.Combine(folder, "refs", "main"))) return FromRef(folder, repo, "main", commits);
            if (commits.Length == 1) return Path.Combine(snapshots, commits[0]);
            throw new HeadMinerException(
                $"{folder}: {repo} has no refs/main and {commits.Length} snapshots ({string.Join(", ", commits.Select(Short))}); name one: {repo}@<commit>");
        }
        if (File.Exists(Path.Combine(folder, "refs", revision))) return FromRef(folder, repo, revision, commits);
        var matches = IsHex(revision) ? commits.Where(c => c.StartsWith(revision, StringComparison.OrdinalIgnoreCase)).ToArray() : [];
        if (matches.Length == 1) return Path.Combine(snapshots, matches[0]);
        if (matches.Length > 1)
            throw new HeadMinerException($"{folder}: revision \"{revision}\" of {repo} is ambiguous: it starts {string.Join(", ", matches)}; give more of the commit hash");
        throw new HeadMinerException(
            $"{folder}: {repo} has no revision \"{ErrorText.Clip(revision)}\" in the cache; refs: {Join(Refs(folder))}; snapshots: {string.Join(", ", commits.Select(Short))}; {HowToDownload(repo, revision)}");
    }

    /// <summary>Every snapshot in the cache, by repository then commit, with the refs that point at it.</summary>
    public IReadOnlyList<CachedSnapshot> Snapshots()
    {
        if (!Directory.Exists(Root)) return [];
        var list = new List<CachedSnapshot>();
        foreach (string folder in Directory.GetDirectories(Root, ModelPrefix + "*").Order(StringComparer.Ordinal))
        {
            string repo = Path.GetFileName(folder)![ModelPrefix.Length..].Replace("--", "/", StringComparison.Ordinal);
            var refs = Refs(folder);
            string snapshots = Path.Combine(folder, "snapshots");
            if (!Directory.Exists(snapshots)) continue;
            foreach (string dir in Directory.GetDirectories(snapshots).Order(StringComparer.Ordinal))
            {
                string commit = Path.GetFileName(dir)!;
                list.Add(new CachedSnapshot(repo, commit, refs.Where(r => r.Commit == commit).Select(r => r.Name).ToArray(), dir));
            }
        }
        return list;
    }

    private string FromRef(string folder, string repo, string name, string[] commits)
    {
        string refFile = Path.Combine(folder, "refs", name);
        string commit = File.ReadAllText(refFile).Trim();
        if (!IsHex(commit) || commit.Length == 0)
            throw new HeadMinerException($"{refFile}: expected a commit hash, found \"{ErrorText.Clip(commit)}\"");
        string snapshot = Path.Combine(folder, "snapshots", commit);
        if (!Directory.Exists(snapshot))
            throw new HeadMinerException(
                $"{refFile}: refs/{name} of {repo} points to commit {commit}, which has no snapshot folder (a partial download or a cleaned cache?); " +
                $"snapshots present: {Join(commits.Select(Short))}; {HowToDownload(repo)}");
        return snapshot;
    }

    /// <summary>The refs of a model folder (name, commit); a nested name such as refs/pr/1 keeps its slashes.</summary>
    private static List<(string Name, string Commit)> Refs(string folder)
    {
        string refs = Path.Combine(folder, "refs");
        if (!Directory.Exists(refs)) return [];
        return Directory.GetFiles(refs, "*", SearchOption.AllDirectories)
            .Select(f => (Path.GetRelativePath(refs, f).Replace('\\', '/'), File.ReadAllText(f).Trim()))
            .OrderBy(r => r.Item1, StringComparer.Ordinal)
            .ToList();
    }

    private static string Join(IEnumerable<(string Name, string Commit)> refs) =>
        Join(refs.Select(r => $"{r.Name} → {Short(r.Commit)}"));

    private static string Join(IEnumerable<string> items) => items.Any() ? string.Join(", ", items) : "none";

    /// <summary>The message for a model that is not cached: where we looked, what is near, how to fetch it.</summary>
    private HeadMinerException NotCached(string id, string repo)
    {
        string[] parts = repo.Split('/');
        string[] near = Directory.Exists(Root)
            ? Directory.GetDirectories(Root, ModelPrefix + "*")
                .Select(d => Path.GetFileName(d)![ModelPrefix.Length..].Replace("--", "/", StringComparison.Ordinal))
                .Where(r => r.Split('/') is [var org, var name]
                    && (org.Equals(parts[0], StringComparison.OrdinalIgnoreCase) || name.Equals(parts[1], StringComparison.OrdinalIgnoreCase)))
                .Order(StringComparer.Ordinal)
                .ToArray()
            : [];
        string found = !Directory.Exists(Root) ? "that folder does not exist"
            : near.Length > 0 ? $"cached models with the same org or name: {string.Join(", ", near.Take(8))}{(near.Length > 8 ? ", …" : "")}"
            : "no cached model with the same org or name";
        return new HeadMinerException(
            $"{ErrorText.Clip(id)}: no such file or directory, and not in the Hugging Face cache: searched {Describe()} for {ModelPrefix}{repo.Replace("/", "--", StringComparison.Ordinal)}; {found}; {HowToDownload(repo)}");
    }

    private static string HowToDownload(string repo, string? revision = null) =>
        $"to add it, run `huggingface-cli download {repo}{(revision is null ? "" : " --revision " + revision)}` on a machine with internet and copy its cache folder here (or point HF_HUB_CACHE at a copied hub folder)";

    private static string Short(string commit) => commit.Length > 12 ? commit[..12] : commit;

    private static bool IsHex(string text) => text.Length > 0 && text.All(char.IsAsciiHexDigit);
}
