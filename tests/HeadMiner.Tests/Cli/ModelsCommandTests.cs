using System.Text.Json;
using HeadMiner.Cli;
using HeadMiner.Tests.Models;
using static HeadMiner.Tests.CliRunner;

namespace HeadMiner.Tests.Cli;

/// <summary>`headminer models` and `-m org/name`, against a fake hub cache given through <see cref="CliEnvironment"/>.</summary>
public class ModelsCommandTests
{
    private const string Commit = "3f1c2b9d0e4a5b6c7d8e9f00112233445566778a";

    // The llama parity fixture: vocab 107, d_model 32, 2 layers, 4 query heads of 8 dims, 2 k/v heads, d_mlp 96,
    // untied: embed + lm_head 2·107·32 = 6848; per layer q 32·32 + k 32·16 + v 32·16 + o 32·32 + MLP 3·32·96 + 2 norms
    // of 32 = 12352; final norm 32. Total 6848 + 2·12352 + 32.
    private const long LlamaParameters = 31584;

    private static (FakeHubCache Cache, IDisposable Env) NewCache(TestPaths.TempDirectory temp)
    {
        var fake = new FakeHubCache(Path.Combine(temp.Path, "home", ".cache", "huggingface", "hub"));
        fake.AddSnapshot("tiny/llama", Commit, TestPaths.Fixture("parity", "llama"));
        fake.SetRef("tiny/llama", "main", Commit);
        string odd = Path.Combine(temp.Path, "odd");
        Directory.CreateDirectory(odd);
        File.WriteAllText(Path.Combine(odd, "config.json"), """{"model_type": "mamba", "hidden_size": 8}""");
        fake.AddSnapshot("state/mamba-tiny", Commit, odd);
        // Only HOME: the default location ~/.cache/huggingface/hub is what is read.
        return (fake, CliEnvironment.Use(new Dictionary<string, string> { ["HOME"] = Path.Combine(temp.Path, "home") }));
    }

    [Fact]
    public void TheTableListsLoadableAndUnsupportedModels()
    {
        using var temp = TestPaths.NewTempDirectory();
        var (fake, env) = NewCache(temp);
        using var _ = env;
        var (code, output, err) = Run("models");
        Assert.True(code == 0, err);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal($"cache: {fake.Root} (the default, ~/.cache/huggingface/hub)", lines[0]);
        Assert.StartsWith("id ", lines[1]);
        Assert.Matches(@"^state/mamba-tiny@3f1c2b9d0e4a\s+3f1c2b9d0e4a\s+mamba\s+-\s+-\s+-\s+-\s+-\s+no: model_type ""mamba"" is not supported$", lines[2]);
        Assert.Matches(@"^tiny/llama\s+3f1c2b9d0e4a \(main\)\s+llama\s+llama\s+2×4\s+32\s+31\.58K\s+\S+ KiB\s+yes$", lines[3]);
        Assert.Equal("2 cached model snapshots, 1 loadable", lines[4]);
    }

    [Fact]
    public void JsonCarriesSizesRevisionAndSupport()
    {
        using var temp = TestPaths.NewTempDirectory();
        var (fake, env) = NewCache(temp);
        using var _ = env;
        var (code, output, err) = Run("models", "--json");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(output);
        var root = doc.RootElement;
        Assert.Equal(fake.Root, root.GetProperty("cache").GetString());
        Assert.Equal(2, root.GetProperty("count").GetInt32());
        var llama = root.GetProperty("models").EnumerateArray().Single(m => m.GetProperty("repo").GetString() == "tiny/llama");
        Assert.Equal("tiny/llama", llama.GetProperty("id").GetString());
        Assert.Equal(Commit, llama.GetProperty("commit").GetString());
        Assert.Equal(["main"], llama.GetProperty("refs").EnumerateArray().Select(r => r.GetString()));
        Assert.Equal(2, llama.GetProperty("layers").GetInt32());
        Assert.Equal(4, llama.GetProperty("heads").GetInt32());
        Assert.Equal(2, llama.GetProperty("kv_heads").GetInt32());
        Assert.Equal(32, llama.GetProperty("d_model").GetInt32());
        Assert.Equal(LlamaParameters, llama.GetProperty("parameters").GetInt64());
        Assert.Equal(new FileInfo(TestPaths.Fixture("parity", "llama", "model.safetensors")).Length, llama.GetProperty("bytes").GetInt64());
        Assert.True(llama.GetProperty("supported").GetBoolean());
        var mamba = root.GetProperty("models").EnumerateArray().Single(m => m.GetProperty("repo").GetString() == "state/mamba-tiny");
        Assert.False(mamba.GetProperty("supported").GetBoolean());
        Assert.Equal("mamba", mamba.GetProperty("model_type").GetString());
        Assert.Equal("state/mamba-tiny@3f1c2b9d0e4a", mamba.GetProperty("id").GetString());
    }

    [Fact]
    public void AMissingCacheIsAnEmptyListWithANote()
    {
        using var temp = TestPaths.NewTempDirectory();
        string absent = Path.Combine(temp.Path, "nothing-here");
        using var _ = CliEnvironment.Use(new Dictionary<string, string> { ["HF_HOME"] = absent });
        var (code, output, err) = Run("models");
        Assert.True(code == 0, err);
        Assert.Contains("no cached models", output);
        Assert.Contains($"note: no Hugging Face cache at {Path.Combine(absent, "hub")} (from HF_HOME)", err);
        var json = Run("models", "--json");
        using var doc = JsonDocument.Parse(json.Out);
        Assert.Equal(0, doc.RootElement.GetProperty("count").GetInt32());
        Assert.False(doc.RootElement.GetProperty("cache_exists").GetBoolean());
    }

    [Fact]
    public void DashMTakesACacheIdAndAnUnknownOneIsOneError()
    {
        using var temp = TestPaths.NewTempDirectory();
        var (fake, env) = NewCache(temp);
        using var _ = env;
        foreach (string id in new[] { "tiny/llama", "tiny/llama@main", "tiny/llama@3f1c2b" })
        {
            var (code, output, err) = Run("info", "-m", id, "--json");
            Assert.True(code == 0, $"{id}: {err}");
            using var doc = JsonDocument.Parse(output);
            Assert.Equal(Path.Combine(fake.RepoFolder("tiny/llama"), "snapshots", Commit), doc.RootElement.GetProperty("path").GetString());
            Assert.Equal(2, doc.RootElement.GetProperty("layers").GetInt32());
        }
        var missing = Run("info", "-m", "tiny/llamb");
        Assert.Equal(ExitCodes.Failure, missing.Code);
        var line = Assert.Single(missing.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("error: tiny/llamb: no such file or directory, and not in the Hugging Face cache: searched " + fake.Root, line);
        Assert.Contains("tiny/llama", line[line.IndexOf("same org or name", StringComparison.Ordinal)..]);
    }
}
