namespace HeadMiner.Tests;

/// <summary>
/// Locates the repository root (the directory holding HeadMiner.slnx, found by walking up from the test binaries) and
/// the shared model directory next to it (<c>../shared</c>). Real model files are read from there, never copied into
/// the repository; a missing file fails the test with its full path.
/// </summary>
public static class TestPaths
{
    private static readonly Lazy<string> Root = new(FindRepoRoot);

    public static string RepoRoot => Root.Value;

    /// <summary><c>&lt;repo&gt;/../shared</c>, normalised.</summary>
    public static string SharedDir => Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared"));

    /// <summary>The full path of <paramref name="relative"/> under the shared directory; throws naming it if absent.</summary>
    public static string SharedFile(string relative)
    {
        string path = Path.GetFullPath(Path.Combine(SharedDir, relative));
        if (!File.Exists(path))
            throw new FileNotFoundException($"test data file not found: {path} (expected under {SharedDir}, next to the repository)", path);
        return path;
    }

    /// <summary>The full path of directory <paramref name="relative"/> under the shared directory; throws naming it if absent.</summary>
    public static string SharedDirectory(string relative)
    {
        string path = Path.GetFullPath(Path.Combine(SharedDir, relative));
        if (!Directory.Exists(path))
            throw new DirectoryNotFoundException($"test data directory not found: {path} (expected under {SharedDir}, next to the repository)");
        return path;
    }

    /// <summary>A directory of ../shared/models, e.g. "stories260K"; throws naming it if absent.</summary>
    public static string SharedModel(string name) => SharedDirectory(Path.Combine("models", name));

    /// <summary>A committed fixture directory under tests/fixtures; throws naming it if absent.</summary>
    public static string Fixture(params string[] parts)
    {
        string path = Path.Combine([RepoRoot, "tests", "fixtures", .. parts]);
        if (!Directory.Exists(path) && !File.Exists(path)) throw new DirectoryNotFoundException($"test fixture not found: {path}");
        return path;
    }

    /// <summary>A fresh empty directory under the system temp directory, deleted when the returned handle is disposed.</summary>
    public static TempDirectory NewTempDirectory() => new();

    public sealed class TempDirectory : IDisposable
    {
        public TempDirectory()
        {
            Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "headminer-tests-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(Path);
        }

        public string Path { get; }

        public string File(string name) => System.IO.Path.Combine(Path, name);

        public void Dispose()
        {
            try
            {
                Directory.Delete(Path, recursive: true);
            }
            catch (IOException)
            {
                // A still-mapped file can block deletion on some systems; temp space is reclaimed eventually.
            }
        }
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "HeadMiner.slnx"))) return dir.FullName;
        }
        throw new DirectoryNotFoundException($"no HeadMiner.slnx found in {AppContext.BaseDirectory} or any parent directory");
    }
}
