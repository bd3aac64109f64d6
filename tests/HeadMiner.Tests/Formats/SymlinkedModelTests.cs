using HeadMiner.Models;
using HeadMiner.Models.Formats;

namespace HeadMiner.Tests.Formats;

/// <summary>
/// Models stored as symbolic links — the Hugging Face cache's snapshots/&lt;rev&gt;/x → ../../blobs/&lt;hash&gt; —
/// load exactly as the files they point at (a FileInfo of a link reports the link's size, which used to make every
/// such model fail), and a dangling link is one clear error naming it.
/// </summary>
public class SymlinkedModelTests
{
    private static string Fixture(string family, string file) => Path.Combine(TestPaths.Fixture("parity", family), file);

    [Fact]
    public void SafetensorsModelInHfCacheLayoutGivesTheSameLogitsAsTheFiles()
    {
        using var root = TestPaths.NewTempDirectory();
        string snapshot = HfCacheLayout.Create(root.Path, [("config.json", Fixture("llama", "config.json")), ("model.safetensors", Fixture("llama", "model.safetensors"))]);
        Assert.NotNull(new FileInfo(Path.Combine(snapshot, "model.safetensors")).LinkTarget);

        using var linked = ModelLoader.Load(snapshot);
        using var direct = ModelLoader.Load(TestPaths.Fixture("parity", "llama"));
        int[] tokens = [1, 5, 9, 2];
        Assert.Equal(direct.Model.Forward(tokens).ToArray(), linked.Model.Forward(tokens).ToArray());
    }

    [Fact]
    public void TokenizerAndWeightsOfGpt2SmallLoadThroughLinks()
    {
        string model = TestPaths.SharedModel("gpt2-small-attention-only");
        using var root = TestPaths.NewTempDirectory();
        string snapshot = HfCacheLayout.Create(root.Path, new[] { "config.json", "model.safetensors", "vocab.json", "merges.txt" }.Select(n => (n, Path.Combine(model, n))));

        using var loaded = ModelLoader.Load(snapshot, new LoadOptions { WeightsOnly = true });
        Assert.Equal(12, loaded.Model.Config.Layers);
        Assert.Equal(-0.0188f, loaded.Model.Weights.W_pos![0, 0], 1e-4f);
        Assert.Equal(50257, loaded.RequireTokenizer().VocabSize);
    }

    [Fact]
    public void Stories260KInHfCacheLayoutLoadsWithItsTokenizer()
    {
        string stories = TestPaths.SharedModel("stories260K");
        using var root = TestPaths.NewTempDirectory();
        string snapshot = HfCacheLayout.Create(root.Path, [("stories260K.bin", Path.Combine(stories, "stories260K.bin")), ("tok512.bin", Path.Combine(stories, "tok512.bin"))]);

        using var direct = ModelLoader.Load(Path.Combine(stories, "stories260K.bin"));
        int[] tokens = [1, 300, 42, 7];
        foreach (string path in new[] { snapshot, Path.Combine(snapshot, "stories260K.bin") })
        {
            using var linked = ModelLoader.Load(path);
            Assert.Equal("llama2c", linked.Format);
            Assert.Equal(512, linked.RequireTokenizer().VocabSize);
            Assert.Equal(direct.Model.Forward(tokens).ToArray(), linked.Model.Forward(tokens).ToArray());
        }
    }

    [Fact]
    public void ShardedCheckpointWithLinkedIndexAndShardsOpens()
    {
        using var source = TestPaths.NewTempDirectory();
        new SafetensorsWriter().Add("a", HeadMiner.Tensors.Tensor.Wrap([1f, 2f], 2)).Save(source.File("s1"));
        new SafetensorsWriter().Add("b", HeadMiner.Tensors.Tensor.Wrap([3f], 1)).Save(source.File("s2"));
        File.WriteAllText(source.File("index"), """{"weight_map": {"a": "model-1.safetensors", "b": "model-2.safetensors"}}""");
        using var root = TestPaths.NewTempDirectory();
        string snapshot = HfCacheLayout.Create(root.Path,
            [(SafetensorsCheckpoint.IndexFileName, source.File("index")), ("model-1.safetensors", source.File("s1")), ("model-2.safetensors", source.File("s2"))]);

        using var checkpoint = SafetensorsCheckpoint.Open(snapshot);
        Assert.Equal([1f, 2f], checkpoint.GetFloat32("a").ToArray());
        Assert.Equal([3f], checkpoint.GetFloat32("b").ToArray());
    }

    [Theory]
    [InlineData("model.safetensors", "safetensors file")]
    [InlineData("config.json", "config.json")]
    public void DanglingLinkInHfDirectoryIsOneErrorNamingIt(string dangling, string what)
    {
        using var root = TestPaths.NewTempDirectory();
        string other = dangling == "config.json" ? "model.safetensors" : "config.json";
        string snapshot = HfCacheLayout.Create(root.Path, [(other, Fixture("gpt2", other))]);
        string link = HfCacheLayout.AddDangling(snapshot, dangling);

        var (code, stdout, stderr) = CliRunner.Run("info", "-m", snapshot);
        Assert.Equal(1, code);
        Assert.Equal("", stdout);
        Assert.Equal($"error: {link}: {what} is a symbolic link to ../../blobs/0000000000000000deadbeef, which is not an existing file (a dangling link?)", stderr.TrimEnd());
    }

    [Fact]
    public void DanglingLlama2cCheckpointLinkIsOneErrorNamingIt()
    {
        using var root = TestPaths.NewTempDirectory();
        string snapshot = HfCacheLayout.Create(root.Path, [("tok512.bin", Path.Combine(TestPaths.SharedModel("stories260K"), "tok512.bin"))]);
        string link = HfCacheLayout.AddDangling(snapshot, "stories260K.bin");
        foreach (string path in new[] { snapshot, link })
        {
            var e = Assert.Throws<HeadMinerException>(() => ModelLoader.Load(path));
            Assert.StartsWith($"{link}: ", e.Message);
            Assert.Contains("is a symbolic link to ../../blobs/0000000000000000deadbeef, which is not an existing file", e.Message);
        }
    }

    [Fact]
    public void DanglingTokenizerLinkFailsInsteadOfLoadingWithoutATokenizer()
    {
        using var root = TestPaths.NewTempDirectory();
        string snapshot = HfCacheLayout.Create(root.Path, [("stories260K.bin", Path.Combine(TestPaths.SharedModel("stories260K"), "stories260K.bin"))]);
        string link = HfCacheLayout.AddDangling(snapshot, "tokenizer.bin");
        var e = Assert.Throws<HeadMinerException>(() => ModelLoader.Load(snapshot));
        Assert.StartsWith($"{link}: ", e.Message);
    }
}
