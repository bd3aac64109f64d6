using HeadMiner.Models;

namespace HeadMiner.Tests.Models;

/// <summary>
/// Config spellings of popular checkpoints of the existing families (Qwen2.5, Llama 3.2) that the parity fixtures
/// do not spell the same way: each must load as its family, with the meaning Hugging Face gives it.
/// </summary>
public class FamilyConfigVariantTests
{
    [Fact]
    public void Qwen25MaxWindowLayersBelowTheLayerCountIsIgnoredWithoutUseSlidingWindow()
    {
        // Qwen2.5 configs ship max_window_layers < num_hidden_layers (21 of 24 in 0.5B) with use_sliding_window false.
        using var plain = ModelLoader.Load(TestPaths.Fixture("parity", "qwen2"));
        using var dir = ConfigValidationTests.WithConfigValue("qwen2", "max_window_layers", "1");
        using var variant = ModelLoader.Load(dir.Path);
        Assert.Equal([0, 0], variant.Model.Config.AttentionWindow);
        int[] ids = [5, 17, 3, 99, 42, 8, 61, 7, 120, 33, 2];
        Assert.Equal(plain.Model.Forward(ids).ToArray(), variant.Model.Forward(ids).ToArray());
    }

    [Fact]
    public void Qwen2SlidingWindowAppliesFromMaxWindowLayersOnWhenSwitchedOn()
    {
        using var dir = TestPaths.NewTempDirectory();
        string fixture = TestPaths.Fixture("parity", "qwen2");
        File.Copy(Path.Combine(fixture, "model.safetensors"), dir.File("model.safetensors"));
        string config = File.ReadAllText(Path.Combine(fixture, "config.json"))
            .Replace("\"use_sliding_window\": false", "\"use_sliding_window\": true", StringComparison.Ordinal)
            .Replace("\"max_window_layers\": 2", "\"max_window_layers\": 1", StringComparison.Ordinal)
            .Replace("\"sliding_window\": 32768", "\"sliding_window\": 3", StringComparison.Ordinal);
        File.WriteAllText(dir.File("config.json"), config);
        using var loaded = ModelLoader.Load(dir.Path);
        Assert.Equal([0, 3], loaded.Model.Config.AttentionWindow);
    }

    [Fact]
    public void Llama32ExplicitHeadDimAndTheDerivedOneGiveTheSameModel()
    {
        // Llama 3.2 writes head_dim (64 = 2048 / 32); without it the size is derived. Both must agree.
        using var given = ModelLoader.Load(TestPaths.Fixture("parity", "llama3"));
        using var dir = ConfigValidationTests.WithConfigValue("llama3", "head_dim", "null");
        using var derived = ModelLoader.Load(dir.Path);
        Assert.Equal(8, given.Model.Config.DHead);
        Assert.Equal(given.Model.Config.DHead, derived.Model.Config.DHead);
        Assert.True(given.Model.Config.TiedEmbeddings);
        int[] ids = [5, 17, 3, 99, 42, 8, 61, 7, 100, 33, 2];
        Assert.Equal(given.Model.Forward(ids).ToArray(), derived.Model.Forward(ids).ToArray());
    }
}
