using System.Security.Cryptography;

namespace HeadMiner.Tests.Models;

/// <summary>
/// Builds a Hugging Face hub cache the way <c>huggingface_hub</c> lays it out — <c>models--org--name/</c> with
/// <c>blobs/&lt;sha256&gt;</c>, <c>snapshots/&lt;commit&gt;/&lt;file&gt;</c> as relative links into <c>../../blobs/</c>,
/// and <c>refs/&lt;name&gt;</c> files holding a commit — from a committed model folder.
/// </summary>
internal sealed class FakeHubCache(string root)
{
    public string Root { get; } = root;

    public string RepoFolder(string repo) => Path.Combine(Root, "models--" + repo.Replace("/", "--", StringComparison.Ordinal));

    /// <summary>Adds snapshot <paramref name="commit"/> of <paramref name="repo"/> holding every file of <paramref name="modelDir"/>.</summary>
    public string AddSnapshot(string repo, string commit, string modelDir)
    {
        string folder = RepoFolder(repo);
        string blobs = Path.Combine(folder, "blobs");
        string snapshot = Path.Combine(folder, "snapshots", commit);
        Directory.CreateDirectory(blobs);
        Directory.CreateDirectory(snapshot);
        foreach (string file in Directory.GetFiles(modelDir))
        {
            string hash = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(file)));
            string blob = Path.Combine(blobs, hash);
            if (!File.Exists(blob)) File.Copy(file, blob);
            File.CreateSymbolicLink(Path.Combine(snapshot, Path.GetFileName(file)), Path.Combine("..", "..", "blobs", hash));
        }
        return snapshot;
    }

    /// <summary>Writes refs/<paramref name="name"/> (a branch or tag) pointing at <paramref name="commit"/>.</summary>
    public void SetRef(string repo, string name, string commit)
    {
        string file = Path.Combine(RepoFolder(repo), "refs", name);
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        File.WriteAllText(file, commit);
    }
}
