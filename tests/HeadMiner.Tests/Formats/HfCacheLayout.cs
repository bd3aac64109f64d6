namespace HeadMiner.Tests.Formats;

/// <summary>
/// Builds the Hugging Face hub cache's layout around some files: each file's bytes go to <c>blobs/&lt;hash&gt;</c> and
/// the model directory <c>snapshots/&lt;revision&gt;/</c> holds relative symbolic links <c>name → ../../blobs/&lt;hash&gt;</c>,
/// exactly as huggingface_hub stores a download.
/// </summary>
internal static class HfCacheLayout
{
    public const string Revision = "0123456789abcdef0123456789abcdef01234567";

    /// <summary>The snapshot directory (the model path a user passes) for <paramref name="files"/> (name in the model → source file).</summary>
    public static string Create(string root, IEnumerable<(string Name, string Source)> files)
    {
        string blobs = Path.Combine(root, "blobs"), snapshot = Path.Combine(root, "snapshots", Revision);
        Directory.CreateDirectory(blobs);
        Directory.CreateDirectory(snapshot);
        int i = 0;
        foreach (var (name, source) in files)
        {
            string hash = $"{++i:x40}"; // stands in for the content hash: only uniqueness matters here
            File.Copy(source, Path.Combine(blobs, hash));
            File.CreateSymbolicLink(Path.Combine(snapshot, name), Path.Combine("..", "..", "blobs", hash));
        }
        return snapshot;
    }

    /// <summary>Adds a link named <paramref name="name"/> to a blob that does not exist (an interrupted or pruned download).</summary>
    public static string AddDangling(string snapshot, string name)
    {
        string link = Path.Combine(snapshot, name);
        File.CreateSymbolicLink(link, Path.Combine("..", "..", "blobs", "0000000000000000deadbeef"));
        return link;
    }
}
