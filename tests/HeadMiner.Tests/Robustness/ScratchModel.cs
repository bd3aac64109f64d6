namespace HeadMiner.Tests.Robustness;

/// <summary>
/// A temporary model folder holding copies (never links) of a small real model's weights, into which a test writes
/// the file under test (a tokenizer) before each run. Deleted on dispose.
/// </summary>
internal sealed class ScratchModel : IDisposable
{
    private readonly TestPaths.TempDirectory _directory = TestPaths.NewTempDirectory();

    private ScratchModel(string from, params string[] files)
    {
        foreach (string file in files) System.IO.File.Copy(Path.Combine(from, file), _directory.File(file));
    }

    public string Folder => _directory.Path;

    /// <summary>The embedded model's config.json and weights (GPT-2 shape, 955 tokens, context 128), no tokenizer.</summary>
    public static ScratchModel Embedded() => new(Path.Combine(TestPaths.RepoRoot, "models", "embedded"), "config.json", "model.safetensors");

    /// <summary>stories260K's llama2.c checkpoint (512 tokens), no tokenizer.</summary>
    public static ScratchModel Stories260K() => new(TestPaths.SharedModel("stories260K"), "stories260K.bin");

    public string File(string name) => _directory.File(name);

    /// <summary>Writes <paramref name="name"/> in the folder, replacing the previous case's file.</summary>
    public void Write(string name, byte[] bytes) => System.IO.File.WriteAllBytes(_directory.File(name), bytes);

    public void Dispose() => _directory.Dispose();
}
