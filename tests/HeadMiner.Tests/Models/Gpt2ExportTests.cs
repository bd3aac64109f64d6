using HeadMiner.Models;
using HeadMiner.Models.Architectures;

namespace HeadMiner.Tests.Models;

public class Gpt2ExportTests
{
    [Fact]
    public void ExportedTensorsReloadThroughTheGpt2ReaderWithIdenticalLogits()
    {
        var config = TinyModels.Gpt2Like();
        using var original = TinyModels.Create(config);
        var tensors = Gpt2Export.Tensors(config, original.Weights);
        var hf = HfConfig.Parse(Gpt2Export.ConfigJson(config));
        var arch = ArchitectureRegistry.For(hf.ModelType, "config.json");
        var parsed = arch.ParseConfig(hf);
        // Records compare arrays by reference: share the window array, then every other field must round-trip.
        Assert.Equal(config with { AttentionWindow = parsed.AttentionWindow }, parsed);
        Assert.Equal(config.AttentionWindow, parsed.AttentionWindow);
        var reader = new WeightReader(new InMemoryWeights("export", tensors), false, [.. arch.Prefixes]);
        using var reloaded = new Transformer(parsed, arch.LoadWeights(parsed, reader), "reloaded");
        Assert.Empty(reader.Unused());
        var tokens = TinyModels.Tokens(config, 9, 11);
        Assert.Equal(original.Forward(tokens).ToArray(), reloaded.Forward(tokens).ToArray());
    }

    [Fact]
    public void QueryColumnsOfHeadOneSitWhereHuggingFaceExpectsThem()
    {
        // Independent of our reader: c_attn column (d + 1·dh + 2) is W_K[1, :, 2].
        var config = TinyModels.Gpt2Like();
        using var model = TinyModels.Create(config);
        var cAttn = Gpt2Export.Tensors(config, model.Weights)["transformer.h.0.attn.c_attn.weight"];
        for (int i = 0; i < config.DModel; i++)
            Assert.Equal(model.Weights.Blocks[0].W_K[1, i, 2], cAttn[i, config.DModel + config.DHead + 2]);
    }
}
