using HeadMiner.Hooks;
using HeadMiner.Hooks.Interventions;
using HeadMiner.Models;
using HeadMiner.Tests.Models;

namespace HeadMiner.Tests.Hooks;

/// <summary>The invariants, on every architecture path (GPT-2-like, NeoX-like parallel + rotary, Llama-like GQA).</summary>
public class HookInvariantTests
{
    public static TheoryData<int> Configs => AnalysisModels.Indices;

    private static TokenBatch Batch(ModelConfig c, ulong seed) => new(TinyModels.Tokens(c, 2 * 9, seed), 2, 9);

    [Theory]
    [MemberData(nameof(Configs))]
    public void EveryHookPointIsVisitedOnceWithItsDocumentedShape(int index)
    {
        var c = AnalysisModels.All[index];
        using var model = TinyModels.Create(c);
        var seen = new Dictionary<HookName, int[]>();
        var hooks = new HookSet(c);
        hooks.Add(_ => true, (t, name) => seen.Add(name, t.Shape.ToArray()));
        model.RunWithHooks(Batch(c, 1), hooks);
        var expected = HookName.All(c).ToHashSet();
        Assert.Equal(expected.OrderBy(h => h.ToString()), seen.Keys.OrderBy(h => h.ToString()));
        int B = 2, T = 9, H = c.Heads, G = c.KvHeads, d = c.DModel;
        Assert.Equal([B, H, T, T], seen[HookName.Of(ActivationSite.Pattern, 1)]);
        Assert.Equal([B, T, G, c.DHead], seen[HookName.Of(ActivationSite.K, 0)]);
        Assert.Equal([B, T, H, d], seen[HookName.Of(ActivationSite.Result, 0)]);
        Assert.Equal([B, T, G, d], seen[HookName.Of(ActivationSite.VInput, 0)]);
        Assert.Equal([B, T, 1], seen[HookName.Of(ActivationSite.LnFinalScale)]);
    }

    [Theory]
    [MemberData(nameof(Configs))]
    public void ObservingEverythingChangesNoLogit(int index)
    {
        // Hooks that only read force the unfused attention, per-head results and split q/k/v inputs: same numbers.
        var c = AnalysisModels.All[index];
        using var model = TinyModels.Create(c);
        var batch = Batch(c, 2);
        var plain = model.Forward(batch).ToArray();
        var hooks = new HookSet(c);
        hooks.Add(_ => true, (_, _) => { });
        var observed = model.RunWithHooks(batch, hooks).ToArray();
        for (int i = 0; i < plain.Length; i++) Assert.Equal(plain[i], observed[i], 2e-5f);
    }

    [Theory]
    [MemberData(nameof(Configs))]
    public void PatchingARunWithItsOwnCacheChangesNoLogitExactly(int index)
    {
        var c = AnalysisModels.All[index];
        using var model = TinyModels.Create(c);
        var batch = Batch(c, 3);
        var (clean, cache) = model.RunWithCache(batch, CacheFilter.All());
        var hooks = new HookSet(c);
        foreach (var hook in cache.Names) ActivationPatch.FromCache(hooks, hook, cache);
        var patched = model.RunWithHooks(batch, hooks).ToArray();
        Assert.Equal(clean.Logits!.ToArray(), patched);
    }

    [Theory]
    [MemberData(nameof(Configs))]
    public void PatchingAllOfResidPre0FromCorruptedReproducesCorruptedLogits(int index)
    {
        var c = AnalysisModels.All[index];
        using var model = TinyModels.Create(c);
        var clean = Batch(c, 4);
        var corrupted = Batch(c, 5);
        var (corruptedRun, corruptedCache) = model.RunWithCache(corrupted, CacheFilter.Of(HookName.Of(ActivationSite.ResidPre, 0)));
        var hooks = new HookSet(c);
        ActivationPatch.FromCache(hooks, HookName.Of(ActivationSite.ResidPre, 0), corruptedCache);
        var patched = model.RunWithHooks(clean, hooks).ToArray();
        var expected = corruptedRun.Logits!.ToArray();
        if (c.LearnedPositions) Assert.Equal(expected, patched);
        else for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], patched[i], 1e-5f);
    }

    [Theory]
    [MemberData(nameof(Configs))]
    public void ZeroAblatingAHeadEqualsRemovingItsWOContribution(int index)
    {
        var c = AnalysisModels.All[index];
        using var model = TinyModels.Create(c);
        using var surgery = TinyModels.Create(c);
        const int layer = 1, head = 2;
        var wo = surgery.Weights.Blocks[layer].W_O.Clone();
        wo.Select(0, head).Span.Clear();
        surgery.Weights.Blocks[layer].W_O = wo;
        var batch = Batch(c, 6);
        var hooks = new HookSet(c);
        HeadAblation.Zero(hooks, layer, head);
        var ablated = model.RunWithHooks(batch, hooks).ToArray();
        var removed = surgery.Forward(batch).ToArray();
        var untouched = model.Forward(batch).ToArray();
        for (int i = 0; i < ablated.Length; i++) Assert.Equal(removed[i], ablated[i], 1e-5f);
        Assert.True(untouched.Zip(ablated).Max(p => Math.Abs(p.First - p.Second)) > 1e-3f, "ablating the head changed nothing: the test shows nothing");
    }

    [Theory]
    [MemberData(nameof(Configs))]
    public void DirectLogitAttributionsSumToTheLogitDifferenceWithFoldedNorms(int index)
    {
        var c = AnalysisModels.All[index];
        using var model = TinyModels.Create(c);
        WeightProcessor.Apply(model, WeightProcessing.TransformerLensDefault);
        var batch = Batch(c, 7);
        // The components add up to the logits before a final soft cap (Gemma 2), which is not linear.
        var (run, cache) = model.RunWithCache(batch, CacheFilter.All(), uncappedLogits: true);
        int[] answer = [3, 5], wrong = [8, 13];
        var logits = run.Logits!;
        var (heads, _) = cache.StackHeadResults();
        var (biases, _) = cache.AttentionBiases();
        var (resid, labels) = cache.DecomposeResid();
        // Components: embed (+ pos), every head, every b_O, every MLP.
        var parts = new List<HeadMiner.Tensors.Tensor>();
        for (int i = 0; i < labels.Length; i++)
            if (!labels[i].EndsWith("attn_out", StringComparison.Ordinal)) parts.Add(resid.Select(0, i));
        for (int i = 0; i < heads.Dim(0); i++) parts.Add(heads.Select(0, i));
        for (int i = 0; i < biases.Dim(0); i++) parts.Add(biases.Select(0, i));
        var stack = HeadMiner.Tensors.Tensor.Zeros([parts.Count, .. parts[0].Shape.ToArray()]);
        for (int i = 0; i < parts.Count; i++) parts[i].CopyTo(stack.Select(0, i));
        var dla = cache.LogitAttribution(stack, answer, wrong);
        var bias = cache.LogitBiasTerms(answer, wrong);
        for (int b = 0; b < 2; b++)
            for (int t = 0; t < 9; t++)
            {
                double sum = bias[b];
                for (int k = 0; k < parts.Count; k++) sum += dla[k, b, t];
                float diff = logits[b, t, answer[b]] - logits[b, t, wrong[b]];
                Assert.Equal(diff, sum, 1e-4);
            }
    }

    [Fact]
    public void AFilteredCacheHoldsExactlyWhatWasAskedFor()
    {
        var c = TinyModels.Gpt2Like();
        using var model = TinyModels.Create(c);
        var filter = CacheFilter.Names(c, "blocks.1.attn.hook_pattern", "blocks.0.hook_resid_post", "hook_embed");
        var (_, cache) = model.RunWithCache(Batch(c, 8), filter);
        Assert.Equal(new[] { "blocks.0.hook_resid_post", "blocks.1.attn.hook_pattern", "hook_embed" }, cache.Names.Select(n => n.ToString()).Order());
        // The pattern is kept as its causal lower triangle (9·10/2 per head); resid_post and embed in full.
        Assert.Equal((2L * 3 * 45 + 2 * 9 * 24 * 2) * 4, cache.Bytes);

        var (_, byLayer) = model.RunWithCache(Batch(c, 8), CacheFilter.All() with { Layers = new HashSet<int> { 1 } });
        Assert.All(byLayer.Names, n => Assert.True(n.Layer is 1 or -1));
        Assert.Contains(byLayer.Names, n => n.Layer == 1);
    }

    [Fact]
    public void PositionAndHalfPrecisionFiltersShrinkTheCache()
    {
        var c = TinyModels.Gpt2Like();
        using var model = TinyModels.Create(c);
        var batch = Batch(c, 9);
        var (_, full) = model.RunWithCache(batch, CacheFilter.All());
        var (_, lastTwo) = model.RunWithCache(batch, CacheFilter.All() with { Positions = [7, 8] });
        var (_, half) = model.RunWithCache(batch, CacheFilter.All() with { HalfPrecision = true });
        var pattern = full["blocks.0.attn.hook_pattern"];
        var kept = lastTwo["blocks.0.attn.hook_pattern"];
        Assert.Equal([2, 3, 2, 9], kept.Shape.ToArray());
        Assert.Equal(pattern[1, 2, 8, 4], kept[1, 2, 1, 4]);
        Assert.Equal(full.Bytes / 2, half.Bytes);
        var resid = full["blocks.1.hook_resid_post"].ToArray();
        var residHalf = half["blocks.1.hook_resid_post"].ToArray();
        for (int i = 0; i < resid.Length; i++) Assert.Equal(resid[i], residHalf[i], Math.Abs(resid[i]) * 1e-3f + 1e-4f);
    }

    [Fact]
    public void PackedPatternsAndScoresReadBackExactly()
    {
        var c = TinyModels.LlamaLike();
        using var model = TinyModels.Create(c);
        var batch = Batch(c, 10);
        HeadMiner.Tensors.Tensor? livePattern = null, liveScores = null;
        var hooks = new HookSet(c);
        hooks.Add("blocks.1.attn.hook_pattern", (t, _) => livePattern = t.Clone());
        hooks.Add("blocks.1.attn.hook_attn_scores", (t, _) => liveScores = t.Clone());
        var (_, cache) = model.RunWithCache(batch, CacheFilter.All(), hooks);
        Assert.Equal(livePattern!.ToArray(), cache["blocks.1.attn.hook_pattern"].ToArray());
        Assert.Equal(liveScores!.ToArray(), cache["blocks.1.attn.hook_attn_scores"].ToArray());

        // A hook that writes above the diagonal makes the tensor non-causal: it must be stored whole, not packed.
        var writer = new HookSet(c);
        writer.Add("blocks.0.attn.hook_pattern", (t, _) => t[0, 0, 0, 5] = 0.25f);
        var (_, edited) = model.RunWithCache(batch, CacheFilter.Names(c, "blocks.0.attn.hook_pattern"), writer);
        Assert.Equal(0.25f, edited["blocks.0.attn.hook_pattern"][0, 0, 0, 5]);
        Assert.Equal(2L * 4 * 9 * 9 * 4, edited.Bytes);
    }

    [Fact]
    public void UnknownHookNameSuggestsNearestNames()
    {
        var c = TinyModels.Gpt2Like();
        var e = Assert.Throws<HeadMinerException>(() => new HookSet(c).Add("blocks.1.attn.hook_patern", (_, _) => { }));
        Assert.Contains("blocks.1.attn.hook_pattern", e.Message);
        var layer = Assert.Throws<HeadMinerException>(() => HookName.Parse("blocks.7.hook_resid_pre", c));
        Assert.Contains("2 layers", layer.Message);
        var rotary = Assert.Throws<HeadMinerException>(() => HookName.Parse("blocks.0.attn.hook_rot_q", c));
        Assert.Contains("no such hook", rotary.Message);
    }

    [Fact]
    public void RemovedHooksStopRunning()
    {
        var c = TinyModels.Gpt2Like();
        using var model = TinyModels.Create(c);
        var hooks = new HookSet(c);
        int calls = 0;
        var handle = hooks.Add("blocks.0.hook_resid_pre", (_, _) => calls++);
        model.RunWithHooks(Batch(c, 1), hooks);
        handle.Dispose();
        model.RunWithHooks(Batch(c, 1), hooks);
        Assert.Equal(1, calls);
    }
}
