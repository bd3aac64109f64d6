namespace HeadMiner.Tests.Tokenizers;

/// <summary>Paths of the real model files (../shared/models next to the repository) and of the committed fixtures.</summary>
internal static class TokenizerTestFiles
{
    public static string RepoRoot { get; } = FindRepoRoot();

    public static string Gpt2Directory => SharedModel("gpt2-small-attention-only");
    public static string Stories260KDirectory => SharedModel("stories260K");

    /// <summary>A committed fixture under tests/fixtures/tokenizers.</summary>
    public static string Fixture(string name)
    {
        string path = Path.Combine(RepoRoot, "tests", "fixtures", "tokenizers", name);
        if (!File.Exists(path)) throw new FileNotFoundException($"tokenizer fixture missing: {path}", path);
        return path;
    }

    /// <summary>A shared model folder; fails naming the path when it is absent, so a missing download is obvious.</summary>
    public static string SharedModel(string name)
    {
        string path = Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "models", name));
        if (!Directory.Exists(path)) throw new DirectoryNotFoundException($"shared model folder missing: {path}");
        return path;
    }

    public static string SharedFile(string model, string file)
    {
        string path = Path.Combine(SharedModel(model), file);
        if (!File.Exists(path)) throw new FileNotFoundException($"shared model file missing: {path}", path);
        return path;
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "HeadMiner.slnx"))) return dir.FullName;
        }
        throw new DirectoryNotFoundException($"no HeadMiner.slnx above {AppContext.BaseDirectory}");
    }
}
