using HeadMiner.Hooks;
using HeadMiner.Models;
using HeadMiner.Tests.Models;

namespace HeadMiner.Tests.Hooks;

/// <summary>
/// The frozen-scale decomposition (<see cref="FrozenPostNorm"/>): per-head terms from <see cref="ActivationCache.StackHeadResults"/>,
/// b_O terms and the sublayer outputs rebuild the real run's residual stream, layer by layer and at the end, on every
/// model (post-norm ones through their ln1_post scale; the identity elsewhere).
/// </summary>
public class FrozenPostNormTests
{
    public static TheoryData<int> Configs => AnalysisModels.Indices;

    [Theory]
    [MemberData(nameof(Configs))]
    public void StackedHeadTermsAndTheOtherComponentsReproduceResidPost(int index)
    {
        var c = AnalysisModels.All[index];
        using var model = TinyModels.Create(c);
        const int B = 2, T = 9;
        var batch = new TokenBatch(TinyModels.Tokens(c, B * T, 17), B, T);
        var (_, cache) = model.RunWithCache(batch, CacheFilter.All());
        var (heads, labels) = cache.StackHeadResults();
        var (biases, _) = cache.AttentionBiases();
        Assert.Equal(c.Layers * c.Heads, labels.Length);
        int d = c.DModel;
        var total = cache[ActivationSite.Embed].Contiguous().ToArray();
        if (c.LearnedPositions) total = total.Zip(cache[ActivationSite.PosEmbed].Contiguous().ToArray(), (a, b) => a + b).ToArray();
        double worst = 0;
        for (int l = 0; l < c.Layers; l++)
        {
            // One layer: resid_pre + Σ_h head terms + b_O term + mlp_out = resid_post (sequential and parallel blocks alike).
            var layer = cache[ActivationSite.ResidPre, l].Contiguous().ToArray();
            var writes = new float[layer.Length];
            for (int h = 0; h < c.Heads; h++) Add(writes, heads.Select(0, l * c.Heads + h).Contiguous().ToArray());
            Add(writes, biases.Select(0, l).Contiguous().ToArray());
            // The heads and b_O add up to hook_attn_out, what the layer's (post-normed) attention added.
            var attnOut = cache[ActivationSite.AttnOut, l].Contiguous().ToArray();
            for (int i = 0; i < attnOut.Length; i++) worst = Math.Max(worst, Check(attnOut[i], writes[i], $"L{l} attn_out[{i}]"));
            Add(writes, cache[ActivationSite.MlpOut, l].Contiguous().ToArray());
            Add(layer, writes);
            Add(total, writes);
            var post = cache[ActivationSite.ResidPost, l].Contiguous().ToArray();
            for (int i = 0; i < post.Length; i++)
            {
                worst = Math.Max(worst, Check(post[i], layer[i], $"L{l} resid_post[{i}]"));
                worst = Math.Max(worst, Check(post[i], total[i], $"L{l} resid_post[{i}] from the embedding"));
            }
        }
        Assert.True(worst < 1e-4);
        if (c.PostNorm)
        {
            // The frozen scale matters: the raw z_h·W_O[h] (hook_result) do not add up to hook_attn_out.
            var (_, results) = model.RunWithCache(batch, CacheFilter.Of(HookName.Of(ActivationSite.Result, 0)));
            var result = results[ActivationSite.Result, 0];
            var attnOut = cache[ActivationSite.AttnOut, 0];
            double gap = 0;
            for (int i = 0; i < d; i++)
            {
                double raw = model.Weights.Blocks[0].b_O?[i] ?? 0;
                for (int h = 0; h < c.Heads; h++) raw += result[0, 3, h, i];
                gap = Math.Max(gap, Math.Abs(raw - attnOut[0, 3, i]));
            }
            Assert.True(gap > 1e-2, $"raw head results already add up (gap {gap}): the post-norm case shows nothing");
        }
    }

    private static void Add(float[] into, float[] part)
    {
        for (int i = 0; i < into.Length; i++) into[i] += part[i];
    }

    private static double Check(float expected, float actual, string what)
    {
        double error = Math.Abs(expected - actual) / (1 + Math.Abs(expected));
        Assert.True(error < 1e-5, $"{what}: {actual}, expected {expected}");
        return error;
    }
}
