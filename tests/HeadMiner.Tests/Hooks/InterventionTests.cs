using HeadMiner.Hooks;
using HeadMiner.Hooks.Interventions;
using HeadMiner.Models;
using HeadMiner.Tensors;
using HeadMiner.Tests.Models;

namespace HeadMiner.Tests.Hooks;

public class InterventionTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    public void KnockingOutEveryEarlierKeyLeavesAQueryAttendingToItself(int config)
    {
        var c = TinyModels.All[config];
        using var model = TinyModels.Create(c);
        var batch = new TokenBatch(TinyModels.Tokens(c, 10, 1), 1, 10);
        const int layer = 1, head = 2, query = 6;
        var hooks = new HookSet(c);
        AttentionKnockout.Add(hooks, layer, head, query, 0, query);
        var (_, cache) = model.RunWithCache(batch, CacheFilter.Names(c, "blocks.1.attn.hook_pattern"), hooks);
        var pattern = cache["blocks.1.attn.hook_pattern"];
        Assert.Equal(1f, pattern[0, head, query, query], 1e-6f);
        for (int k = 0; k < query; k++) Assert.Equal(0f, pattern[0, head, query, k]);
        // Other heads and other queries keep attending to earlier tokens.
        Assert.True(pattern[0, head, query - 1, query - 1] < 0.999f);
        Assert.True(pattern[0, (head + 1) % c.Heads, query, query] < 0.999f);
    }

    [Fact]
    public void AnEmptyKnockoutChangesNothing()
    {
        var c = TinyModels.Gpt2Like();
        using var model = TinyModels.Create(c);
        var batch = new TokenBatch(TinyModels.Tokens(c, 8, 2), 1, 8);
        var hooks = new HookSet(c);
        AttentionKnockout.Add(hooks, 0, null, 5, 2, 2);
        var plain = model.Forward(batch).ToArray();
        var knocked = model.RunWithHooks(batch, hooks).ToArray();
        for (int i = 0; i < plain.Length; i++) Assert.Equal(plain[i], knocked[i], 1e-5f);
    }

    public static TheoryData<int> AllConfigs => AnalysisModels.Indices;

    [Theory]
    [MemberData(nameof(AllConfigs))]
    public void SteeringAHeadEqualsAddingItsWOImageToAttnOut(int config)
    {
        // z_h += α·v changes the attention output by exactly α·v·W_O[h]: steer through z, or add that vector at
        // attn_out — before the post-norm on post-norm models (there, at the head's hook_result, which the norm reads;
        // hook_attn_out is already normalised).
        var c = AnalysisModels.All[config];
        using var model = TinyModels.Create(c);
        var batch = new TokenBatch(TinyModels.Tokens(c, 9, 3), 1, 9);
        const int layer = 0, head = 1;
        const float alpha = 2.5f;
        var v = Tensor.RandomNormal(11, 1f, c.DHead);
        var steered = new HookSet(c);
        Steering.AddToHead(steered, layer, head, v, alpha, positions: [3, 8]);
        var delta = new float[c.DModel];
        var wo = model.Weights.Blocks[layer].W_O.Select(0, head);
        for (int j = 0; j < c.DHead; j++)
            for (int k = 0; k < c.DModel; k++) delta[k] += alpha * v[j] * wo[j, k];
        var direct = new HookSet(c);
        direct.Add(HookName.Of(c.PostNorm ? ActivationSite.Result : ActivationSite.AttnOut, layer), (attnOut, _) =>
        {
            foreach (int p in new[] { 3, 8 })
            {
                var at = attnOut.Select(0, 0).Select(0, p);
                var row = (c.PostNorm ? at.Select(0, head) : at).Span;
                for (int k = 0; k < c.DModel; k++) row[k] += delta[k];
            }
        });
        var a = model.RunWithHooks(batch, steered).ToArray();
        var b = model.RunWithHooks(batch, direct).ToArray();
        var plain = model.Forward(batch).ToArray();
        for (int i = 0; i < a.Length; i++) Assert.Equal(b[i], a[i], 1e-4f);
        Assert.True(a.Zip(plain).Max(p => Math.Abs(p.First - p.Second)) > 1e-3f, "steering changed nothing");
    }

    [Fact]
    public void ResamplingFromTheSameRunChangesNothingAndFromAnotherRunDoes()
    {
        var c = TinyModels.LlamaLike();
        using var model = TinyModels.Create(c);
        var batch = new TokenBatch(TinyModels.Tokens(c, 2 * 7, 4), 2, 7);
        var other = new TokenBatch(TinyModels.Tokens(c, 2 * 7, 5), 2, 7);
        var (plain, self) = model.RunWithCache(batch, CacheFilter.Where(h => h.Site == ActivationSite.Z));
        var (_, foreign) = model.RunWithCache(other, CacheFilter.Where(h => h.Site == ActivationSite.Z));
        var same = new HookSet(c);
        HeadAblation.Resample(same, 1, 3, self);
        Assert.Equal(plain.Logits!.ToArray(), model.RunWithHooks(batch, same).ToArray());
        var swapped = new HookSet(c);
        HeadAblation.Resample(swapped, 1, 3, foreign, sourceRows: [1, 0]);
        Assert.NotEqual(plain.Logits!.ToArray(), model.RunWithHooks(batch, swapped).ToArray());
    }
}

public class NormScaleHookTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    public void DoublingTheFinalScaleHalvesTheBiasFreeLogits(int config)
    {
        // With the final norm folded, logits = normalized · W_U + b_U; a doubled scale halves normalized.
        var c = TinyModels.All[config];
        using var model = TinyModels.Create(c);
        WeightProcessor.Apply(model, WeightProcessing.TransformerLensDefault);
        var batch = new TokenBatch(TinyModels.Tokens(c, 6, 9), 1, 6);
        var bU = model.Weights.b_U?.ToArray() ?? new float[c.VocabSize];
        var plain = model.Forward(batch).ToArray();
        var hooks = new HookSet(c);
        hooks.Add("ln_final.hook_scale", (scale, _) =>
        {
            var s = scale.Span;
            for (int i = 0; i < s.Length; i++) s[i] *= 2;
        });
        var scaled = model.RunWithHooks(batch, hooks).ToArray();
        for (int i = 0; i < plain.Length; i++)
            Assert.Equal((plain[i] - bU[i % c.VocabSize]) / 2, scaled[i] - bU[i % c.VocabSize], 1e-4f);
    }
}
