using HeadMiner.Analysis.Attribution;
using HeadMiner.Analysis.Patching;
using HeadMiner.Hooks;
using HeadMiner.Models;
using HeadMiner.Tasks;

namespace HeadMiner.Tests.Models;

/// <summary>
/// Post-sublayer norms (OLMo-2): what hook_attn_out/hook_mlp_out hold, the ln*_post hook points, and what the per-head
/// analyses need from a cache (the frozen-scale decomposition itself: FrozenPostNormTests).
/// </summary>
public class PostNormTests
{
    private static TokenBatch Batch(ModelConfig c, ulong seed) => new(TinyModels.Tokens(c, 2 * 7, seed), 2, 7);

    [Fact]
    public void AttnOutIsTheNormalisedSumOfTheHeadResultsAndFeedsTheResidual()
    {
        var c = TinyModels.Olmo2Like();
        using var model = TinyModels.Create(c);
        var (_, cache) = model.RunWithCache(Batch(c, 1), CacheFilter.Names(c, "blocks.1.attn.hook_result", "blocks.1.ln1_post.hook_scale",
            "blocks.1.hook_attn_out", "blocks.1.hook_resid_pre", "blocks.1.hook_resid_mid"));
        var result = cache["blocks.1.attn.hook_result"];
        var scale = cache["blocks.1.ln1_post.hook_scale"];
        var attnOut = cache["blocks.1.hook_attn_out"];
        var pre = cache["blocks.1.hook_resid_pre"];
        var mid = cache["blocks.1.hook_resid_mid"];
        var gamma = model.Weights.Blocks[1].Ln1PostWeight!;
        var bO = model.Weights.Blocks[1].b_O!; // the norm reads Σ results + b_O
        for (int b = 0; b < 2; b++)
            for (int t = 0; t < 7; t++)
            {
                var sum = Enumerable.Range(0, c.DModel).Select(i => (double)bO[i]).ToArray();
                for (int h = 0; h < c.Heads; h++)
                    for (int i = 0; i < c.DModel; i++) sum[i] += result[b, t, h, i];
                double rms = Math.Sqrt(sum.Sum(v => v * v) / c.DModel + c.NormEps);
                Assert.Equal((float)rms, scale[b, t, 0], (float)rms * 1e-5f);
                for (int i = 0; i < c.DModel; i++)
                {
                    Assert.Equal((float)(sum[i] / rms * gamma[i]), attnOut[b, t, i], 1e-4f);
                    Assert.Equal(pre[b, t, i] + attnOut[b, t, i], mid[b, t, i], 1e-5f);
                }
            }
    }

    [Fact]
    public void PostNormModelsHaveNoPreNormHooks()
    {
        var c = TinyModels.Olmo2Like();
        var names = HookName.All(c).Select(h => h.ToString()).ToHashSet();
        Assert.Contains("blocks.0.ln2_post.hook_normalized", names);
        Assert.DoesNotContain("blocks.0.ln1.hook_scale", names);
        Assert.DoesNotContain("blocks.0.ln1_post.hook_scale", HookName.All(TinyModels.LlamaLike()).Select(h => h.ToString()));
    }

    [Fact]
    public void StackingHeadsFromACacheWithoutThePostNormScaleNamesTheHookToCache()
    {
        var c = TinyModels.Olmo2Like();
        using var model = TinyModels.Create(c);
        var (_, cache) = model.RunWithCache(Batch(c, 3), CacheFilter.Where(h => h.Site == ActivationSite.Z));
        var e = Assert.Throws<HeadMinerException>(() => cache.StackHeadResults());
        Assert.Contains("blocks.0.ln1_post.hook_scale", e.Message);
    }

    [Fact]
    public void NoDetectorIsSkippedForBeingAPostNormModel()
    {
        var c = TinyModels.Olmo2Like();
        using var model = TinyModels.Create(c);
        var context = new HeadMiner.Analysis.Detectors.DetectorContext(model, null, new HeadMiner.Analysis.Detectors.DetectorOptions());
        var reasons = HeadMiner.Analysis.Detectors.DetectorRegistry.All.Select(d => d.CannotRun(context)).OfType<string>().ToArray();
        Assert.NotEmpty(reasons); // without a tokenizer the text and task detectors do skip, for that reason
        Assert.DoesNotContain(reasons, r => r.Contains("olmo2") || r.Contains("post"));
    }

    [Fact]
    public void FoldingKeepsThePostNormsAndFoldsOnlyTheFinalNorm()
    {
        var c = TinyModels.Olmo2Like();
        using var plain = TinyModels.Create(c);
        using var folded = TinyModels.Create(c);
        WeightProcessor.Apply(folded, WeightProcessing.TransformerLensDefault);
        Assert.NotNull(folded.Weights.Blocks[0].Ln1PostWeight);
        Assert.Null(folded.Weights.LnFinalWeight);
        var batch = Batch(c, 6);
        var a = plain.Forward(batch).ToArray();
        var b = folded.Forward(batch).ToArray();
        // center_unembed shifts every logit of a row equally: compare logits minus their row mean.
        int v = c.VocabSize;
        for (int r = 0; r < a.Length / v; r++)
        {
            float ma = a.AsSpan(r * v, v).ToArray().Average(), mb = b.AsSpan(r * v, v).ToArray().Average();
            for (int j = 0; j < v; j++) Assert.Equal(a[r * v + j] - ma, b[r * v + j] - mb, 1e-4f);
        }
    }
}
