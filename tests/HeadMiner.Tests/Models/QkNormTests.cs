using HeadMiner.Analysis.Attribution;
using HeadMiner.Hooks;
using HeadMiner.Models;
using HeadMiner.Tensors;

namespace HeadMiner.Tests.Models;

/// <summary>
/// QK-norm (Qwen3 per head, OLMo-2 over the whole projection): where it sits between hook_q/hook_k and rotary, what
/// its hook points hold, and that its scale hook behaves like the block norms'.
/// </summary>
public class QkNormTests
{
    private static TokenBatch Batch(ModelConfig c, ulong seed) => new(TinyModels.Tokens(c, 2 * 7, seed), 2, 7);

    private static ModelConfig WholeProjection() => TinyModels.Qwen3Like() with { Architecture = "olmo2", QkNorm = QkNormKind.Whole };

    [Fact]
    public void Qwen3NormalisesEachQueryHeadOfTheRawProjection()
    {
        using var loaded = ModelLoader.Load(TestPaths.Fixture("parity", "qwen3"));
        var model = loaded.Model;
        var c = model.Config;
        Assert.Equal(16, c.DHead); // head_dim, not hidden_size / heads = 8
        var (_, cache) = model.RunWithCache(Batch(c, 1), CacheFilter.Names(c, "blocks.1.attn.hook_q", "blocks.1.attn.q_norm.hook_scale", "blocks.1.attn.q_norm.hook_normalized"));
        var q = cache["blocks.1.attn.hook_q"];
        var scale = cache["blocks.1.attn.q_norm.hook_scale"];
        var normed = cache["blocks.1.attn.q_norm.hook_normalized"];
        Assert.Equal([2, 7, c.Heads, 1], scale.Shape.ToArray());
        float farthestFromOne = 0;
        for (int b = 0; b < 2; b++)
            for (int t = 0; t < 7; t++)
                for (int h = 0; h < c.Heads; h++)
                {
                    double sum = 0;
                    for (int e = 0; e < c.DHead; e++) sum += (double)q[b, t, h, e] * q[b, t, h, e];
                    float rms = (float)Math.Sqrt(sum / c.DHead + c.NormEps);
                    Assert.Equal(rms, scale[b, t, h, 0], rms * 1e-5f);
                    for (int e = 0; e < c.DHead; e++) Assert.Equal(q[b, t, h, e] / rms, normed[b, t, h, e], 1e-5f);
                    farthestFromOne = Math.Max(farthestFromOne, Math.Abs(rms - 1));
                }
        // hook_q is the projection before the norm: were it already normalised, every scale would be 1.
        Assert.True(farthestFromOne > 0.1f, $"hook_q looks normalised already (scales within {farthestFromOne} of 1)");
    }

    [Fact]
    public void TheWholeProjectionNormHasOneScalePerTokenAcrossAllHeads()
    {
        var c = WholeProjection();
        using var model = TinyModels.Create(c);
        var (_, cache) = model.RunWithCache(Batch(c, 2), CacheFilter.Names(c, "blocks.0.attn.hook_k", "blocks.0.attn.k_norm.hook_scale", "blocks.0.attn.k_norm.hook_normalized"));
        var k = cache["blocks.0.attn.hook_k"];
        var scale = cache["blocks.0.attn.k_norm.hook_scale"];
        var normed = cache["blocks.0.attn.k_norm.hook_normalized"];
        Assert.Equal([2, 7, 1], scale.Shape.ToArray());
        Assert.Equal([2, 7, c.KvHeads, c.DHead], normed.Shape.ToArray());
        for (int b = 0; b < 2; b++)
            for (int t = 0; t < 7; t++)
            {
                double sum = 0;
                for (int g = 0; g < c.KvHeads; g++)
                    for (int e = 0; e < c.DHead; e++) sum += (double)k[b, t, g, e] * k[b, t, g, e];
                float rms = (float)Math.Sqrt(sum / (c.KvHeads * c.DHead) + c.NormEps);
                Assert.Equal(rms, scale[b, t, 0], rms * 1e-5f);
                for (int g = 0; g < c.KvHeads; g++)
                    for (int e = 0; e < c.DHead; e++) Assert.Equal(k[b, t, g, e] / rms, normed[b, t, g, e], 1e-5f);
            }
    }

    [Theory]
    [InlineData(QkNormKind.PerHead)]
    [InlineData(QkNormKind.Whole)]
    public void DoublingTheScaleEqualsHalvingTheNormalisedValues(QkNormKind kind)
    {
        var c = TinyModels.Qwen3Like() with { QkNorm = kind };
        using var model = TinyModels.Create(c);
        var batch = Batch(c, 3);
        var plain = model.Forward(batch).ToArray();
        var viaScale = new HookSet(c);
        viaScale.Add("blocks.0.attn.q_norm.hook_scale", (s, _) => { foreach (ref float v in s.Span) v *= 2; });
        var viaValues = new HookSet(c);
        viaValues.Add("blocks.0.attn.q_norm.hook_normalized", (n, _) => { foreach (ref float v in n.Span) v *= 0.5f; });
        var scaled = model.RunWithHooks(batch, viaScale).ToArray();
        var halved = model.RunWithHooks(batch, viaValues).ToArray();
        float moved = 0;
        for (int i = 0; i < plain.Length; i++)
        {
            Assert.Equal(halved[i], scaled[i], 1e-5f);
            moved = Math.Max(moved, Math.Abs(scaled[i] - plain[i]));
        }
        Assert.True(moved > 1e-3f, $"halving the queries moved no logit (max {moved})");
    }

    [Theory]
    [InlineData(QkNormKind.PerHead)]
    [InlineData(QkNormKind.Whole)]
    public void TheDifferentiableRebuildNormalisesLikeTheForwardPass(QkNormKind kind)
    {
        var c = TinyModels.Qwen3Like() with { QkNorm = kind };
        using var model = TinyModels.Create(c);
        var batch = Batch(c, 4);
        var expected = model.Forward(batch).ToArray();
        var run = new DifferentiableTransformer(model).Run(batch, withGradient: false, lastOnly: false);
        var actual = run.Logits.Value.ToArray();
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 1e-4f);
    }

    [Fact]
    public void ModelsWithoutQkNormHaveNoSuchHooks()
    {
        var c = TinyModels.LlamaLike();
        var e = Assert.Throws<HeadMinerException>(() => HookName.Parse("blocks.0.attn.q_norm.hook_normalized", c));
        Assert.Contains("a llama model has no such hook", e.Message);
        Assert.Contains(HookName.Of(ActivationSite.KNormScale, 1), HookName.All(TinyModels.Qwen3Like()));
    }
}
