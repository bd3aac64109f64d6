using HeadMiner.Models;

namespace HeadMiner.Tests.Models;

public class ModelLoaderTests
{
    [Fact]
    public void UnsupportedModelTypeListsTheSupportedOnes()
    {
        using var dir = TestPaths.NewTempDirectory();
        File.WriteAllText(dir.File("config.json"), """{"model_type": "mamba", "vocab_size": 10}""");
        var e = Assert.Throws<HeadMinerException>(() => ModelLoader.Load(dir.Path));
        Assert.Contains("\"mamba\" is not supported", e.Message);
        foreach (var type in new[] { "gpt2", "gpt_neo", "gpt_neox", "llama", "mistral", "qwen2", "qwen3", "olmo2", "phi3", "gemma", "gemma2", "gemma3_text", "llama2c" }) Assert.Contains(type, e.Message);
    }

    [Fact]
    public void MalformedConfigIsOneClearError()
    {
        using var dir = TestPaths.NewTempDirectory();
        File.WriteAllText(dir.File("config.json"), """{"model_type": "gpt2", "n_embd": """);
        var e = Assert.Throws<HeadMinerException>(() => ModelLoader.Load(dir.Path));
        Assert.Contains("config.json is not valid JSON", e.Message);
    }

    [Fact]
    public void MissingPathSaysSo()
    {
        var e = Assert.Throws<HeadMinerException>(() => ModelLoader.Load("/nonexistent/model/dir"));
        Assert.Contains("no such file or directory", e.Message);
    }

    [Fact]
    public void ShapeMismatchNamesTheTensor()
    {
        // A real fixture with a config that lies about the hidden size.
        using var dir = TestPaths.NewTempDirectory();
        string fixture = TestPaths.Fixture("parity", "gpt2");
        File.Copy(Path.Combine(fixture, "model.safetensors"), dir.File("model.safetensors"));
        File.WriteAllText(dir.File("config.json"), File.ReadAllText(Path.Combine(fixture, "config.json")).Replace("\"n_embd\": 32", "\"n_embd\": 48"));
        var e = Assert.Throws<HeadMinerException>(() => ModelLoader.Load(dir.Path));
        Assert.Contains("has shape", e.Message);
        Assert.Contains("expected", e.Message);
    }

    [Fact]
    public void PartialGpt2SmallLoadsWeightsOnlyAndFailsClearlyWhenRun()
    {
        string path = TestPaths.SharedModel("gpt2-small-attention-only");
        var strict = Assert.Throws<HeadMinerException>(() => ModelLoader.Load(path));
        Assert.Contains("mlp.c_fc.weight", strict.Message);

        using var loaded = ModelLoader.Load(path, new LoadOptions { WeightsOnly = true });
        var b = loaded.Model.Weights.Blocks[5];
        Assert.Equal([12, 768, 64], b.W_Q.Shape.ToArray());
        Assert.Equal([12, 64, 768], b.W_O.Shape.ToArray());
        Assert.False(loaded.Model.Weights.IsRunnable);
        Assert.Equal(-0.0188f, loaded.Model.Weights.W_pos![0, 0], 1e-4f);
        var e = Assert.Throws<HeadMinerException>(() => loaded.Model.Forward([1, 2, 3]));
        Assert.Contains("weights-only", e.Message);
        var missing = Assert.Throws<HeadMinerException>(() => loaded.Model.Weights.W_E);
        Assert.Contains("W_E", missing.Message);
    }
}
