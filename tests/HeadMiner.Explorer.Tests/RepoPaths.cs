namespace HeadMiner.Explorer.Tests;

/// <summary>The repository root (holding HeadMiner.slnx, and the embedded model under models/) and where artifacts go.</summary>
public static class RepoPaths
{
    private static readonly Lazy<string> RootPath = new(() =>
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "HeadMiner.slnx"))) return dir.FullName;
        throw new DirectoryNotFoundException($"no HeadMiner.slnx found in {AppContext.BaseDirectory} or any parent directory");
    });

    public static string Root => RootPath.Value;

    /// <summary>Where screenshots go: $TEST_ARTIFACTS if set, else artifacts/ beside the test binaries.</summary>
    public static string Artifacts
    {
        get
        {
            string dir = Environment.GetEnvironmentVariable("TEST_ARTIFACTS") is { Length: > 0 } env ? env : Path.Combine(AppContext.BaseDirectory, "artifacts");
            Directory.CreateDirectory(dir);
            return dir;
        }
    }
}
