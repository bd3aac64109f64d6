using HeadMiner.Models;
using HeadMiner.Models.Formats;

namespace HeadMiner.Tests.Models;

/// <summary>
/// How Phi-3's checkpoint and config are read: the fused qkv_proj and gate_up_proj become the standard per-head
/// W_Q/W_K/W_V and W_gate/W_in (views, still adjacent for one q|k|v GEMM), and LongRoPE's keys are taken from where
/// Hugging Face takes them.
/// </summary>
public class Phi3LoadingTests
{
    [Theory]
    [InlineData("phi3")]
    [InlineData("phi3_long")]
    public void FusedMatricesAreSplitIntoTheStandardWeights(string fixture)
    {
        string dir = TestPaths.Fixture("parity", fixture);
        using var loaded = ModelLoader.Load(dir);
        using var file = SafetensorsFile.Open(Path.Combine(dir, "model.safetensors"));
        var c = loaded.Model.Config;
        int h = c.Heads, g = c.KvHeads, dh = c.DHead, m = c.DMlp;
        for (int l = 0; l < c.Layers; l++)
        {
            var b = loaded.Model.Weights.Blocks[l];
            var qkv = file.GetFloat32($"model.layers.{l}.self_attn.qkv_proj.weight");
            var gateUp = file.GetFloat32($"model.layers.{l}.mlp.gate_up_proj.weight");
            for (int i = 0; i < c.DModel; i += 5)
            {
                for (int e = 0; e < dh; e++)
                {
                    // Rows of qkv_proj: q heads, then k heads, then v heads.
                    Assert.Equal(qkv[(h - 1) * dh + e, i], b.W_Q[h - 1, i, e]);
                    Assert.Equal(qkv[h * dh + (g - 1) * dh + e, i], b.W_K[g - 1, i, e]);
                    Assert.Equal(qkv[(h + g) * dh + e, i], b.W_V[0, i, e]);
                }
                for (int n = 0; n < m; n += 7)
                {
                    Assert.Equal(gateUp[n, i], b.W_gate![i, n]);    // gate rows first
                    Assert.Equal(gateUp[m + n, i], b.W_in[i, n]);  // then up
                }
            }
            // Views over the one fused matrix, side by side: the forward pass can still run one GEMM for q|k|v.
            Assert.NotNull(MatrixOperand.ConcatColumns(MatrixOperand.OfHeads(b.W_Q)!.Value, MatrixOperand.OfHeads(b.W_K)!.Value, MatrixOperand.OfHeads(b.W_V)!.Value));
        }
        Assert.Empty(loaded.UnusedTensors);
    }

    [Theory]
    [InlineData("phi3", "rope_scaling.type", "\"longrope\"", 16, 1.224744871391589)]          // √(1 + ln(64/16) / ln 16), "su" renamed
    [InlineData("phi3", "rope_scaling.attention_factor", "1.5", 16, 1.5)]                       // given: used as is
    [InlineData("phi3", "rope_scaling.factor", "2", 16, 1.1180339887498947)]                    // √(1 + ln 2 / ln 16)
    [InlineData("phi3", "rope_scaling.original_max_position_embeddings", "8", 8, 1.4142135623730951)] // √(1 + ln 8 / ln 8)
    [InlineData("phi3", "max_position_embeddings", "16", 16, 1.0)]                             // no extension
    public void LongRopeKeysAreReadAsHuggingFaceReadsThem(string fixture, string key, string value, int original, double attentionFactor)
    {
        using var dir = ConfigValidationTests.WithConfigValue(fixture, key, value);
        using var loaded = ModelLoader.Load(dir.Path);
        var lr = loaded.Model.Config.LongRope!;
        Assert.Equal(original, lr.OriginalMaxPositions);
        Assert.Equal(attentionFactor, lr.AttentionFactor, 12);
        Assert.Equal([1.5, 1.1, 2.5, 1.05], lr.ShortFactors);
        Assert.Equal([3.0, 5.5, 12.0, 40.0], lr.LongFactors);
    }

    [Fact]
    public void ConfigWithoutRopeScalingIsPlainRotary()
    {
        using var dir = ConfigValidationTests.WithConfigValue("phi3", "rope_scaling", "null");
        using var loaded = ModelLoader.Load(dir.Path);
        Assert.Null(loaded.Model.Config.LongRope);
        Assert.Equal(8, loaded.Model.Config.RotaryDim);
        Assert.Equal([5, 5], loaded.Model.Config.AttentionWindow);
    }
}
