using HeadMiner.Models;
using HeadMiner.Models.Architectures;

namespace HeadMiner.Tests.Models;

/// <summary>How a Qwen3 config.json becomes a <see cref="ModelConfig"/>: Hugging Face's Qwen3Config defaults and windows.</summary>
public class Qwen3ConfigTests
{
    private const string Base = "\"model_type\": \"qwen3\", \"hidden_size\": 32, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, " +
        "\"num_hidden_layers\": 3, \"vocab_size\": 50, \"intermediate_size\": 64, \"max_position_embeddings\": 128";

    private static ModelConfig Parse(string extra) => new Qwen3().ParseConfig(HfConfig.Parse($"{{{Base}{extra}}}"));

    [Fact]
    public void AbsentHeadDimIsQwen3ConfigsDefaultNotHiddenOverHeads()
    {
        var c = Parse("");
        Assert.Equal(128, c.DHead);
        Assert.Equal(QkNormKind.PerHead, c.QkNorm);
        Assert.Equal(16, Parse(", \"head_dim\": 16").DHead);
    }

    [Fact]
    public void SlidingWindowsApplyOnlyWhenSwitchedOnFromMaxWindowLayers()
    {
        Assert.Equal([0, 0, 0], Parse(", \"sliding_window\": 8, \"max_window_layers\": 1").AttentionWindow);
        Assert.Equal([0, 8, 8], Parse(", \"use_sliding_window\": true, \"sliding_window\": 8, \"max_window_layers\": 1").AttentionWindow);
        // Without max_window_layers, Qwen3Config's default (28) leaves these three layers global.
        Assert.Equal([0, 0, 0], Parse(", \"use_sliding_window\": true, \"sliding_window\": 8").AttentionWindow);
    }

    [Fact]
    public void LayerTypesNameTheSlidingLayersWhenGiven()
    {
        var c = Parse(", \"use_sliding_window\": true, \"sliding_window\": 8, \"max_window_layers\": 0, " +
            "\"layer_types\": [\"full_attention\", \"sliding_attention\", \"full_attention\"]");
        Assert.Equal([0, 8, 0], c.AttentionWindow);
        var e = Assert.Throws<HeadMinerException>(() => Parse(", \"use_sliding_window\": true, \"layer_types\": [\"full_attention\", \"local\", \"full_attention\"]"));
        Assert.Contains("\"layer_types[1]\" is \"local\"", e.Message);
        e = Assert.Throws<HeadMinerException>(() => Parse(", \"use_sliding_window\": true, \"layer_types\": [\"full_attention\"]"));
        Assert.Contains("\"layer_types\"", e.Message);
        Assert.Contains("an array of 3 layer types", e.Message);
    }
}
