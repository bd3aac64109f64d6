using HeadMiner.Hooks;
using HeadMiner.Models;
using HeadMiner.Tests.Models;

namespace HeadMiner.Tests.Hooks;

/// <summary>blocks.{l}.hook_mlp_in: the MLP's own copy of its input, offered on demand.</summary>
public class MlpInHookTests
{
    public static TheoryData<int> Tiny => new(Enumerable.Range(0, TinyModels.All.Length));

    private static TokenBatch Batch(ModelConfig c, ulong seed) => new(TinyModels.Tokens(c, 2 * 7, seed), 2, 7);

    [Theory]
    [MemberData(nameof(Tiny))]
    public void AnUntouchedMlpInHookGivesTheSameLogits(int index)
    {
        var c = TinyModels.All[index];
        using var model = TinyModels.Create(c);
        var batch = Batch(c, 11);
        var plain = model.Forward(batch).ToArray();
        var hooks = new HookSet(c);
        int visits = 0;
        for (int l = 0; l < c.Layers; l++)
            hooks.Add($"blocks.{l}.hook_mlp_in", (t, _) =>
            {
                Assert.Equal([2, 7, c.DModel], t.Shape.ToArray());
                visits++;
            });
        var hooked = model.RunWithHooks(batch, hooks).ToArray();
        Assert.Equal(c.Layers, visits);
        Assert.Equal(plain, hooked);
    }

    [Theory]
    [MemberData(nameof(Tiny))]
    public void MlpInIsTheResidualTheMlpReads(int index)
    {
        // resid_mid in sequential blocks, resid_pre in parallel ones.
        var c = TinyModels.All[index];
        using var model = TinyModels.Create(c);
        var residSite = c.ParallelAttnMlp ? ActivationSite.ResidPre : ActivationSite.ResidMid;
        var (_, cache) = model.RunWithCache(Batch(c, 12), CacheFilter.Of(HookName.Of(residSite, 1), HookName.Of(ActivationSite.MlpIn, 1)));
        Assert.Equal(cache[residSite, 1].ToArray(), cache[ActivationSite.MlpIn, 1].ToArray());
    }

    [Theory]
    [MemberData(nameof(Tiny))]
    public void EditingMlpInChangesMlpOutButNotTheResidualStream(int index)
    {
        var c = TinyModels.All[index];
        using var model = TinyModels.Create(c);
        var batch = Batch(c, 13);
        const int layer = 0;
        var residSite = c.ParallelAttnMlp ? ActivationSite.ResidPre : ActivationSite.ResidMid;

        (float[] Resid, float[] MlpOut) Run(bool edit)
        {
            float[]? resid = null, mlpOut = null;
            var hooks = new HookSet(c);
            // One coordinate per row, not a constant shift (LayerNorm would remove that).
            if (edit)
                hooks.Add($"blocks.{layer}.hook_mlp_in", (t, _) =>
                {
                    var span = t.Span;
                    for (int i = 0; i < span.Length; i += c.DModel) span[i] += 1f;
                });
            hooks.Add(HookName.Of(ActivationSite.MlpOut, layer).ToString(), (t, _) => mlpOut = t.ToArray());
            hooks.Add(HookName.Of(residSite, layer).ToString(), (t, _) => resid = t.ToArray());
            model.RunWithHooks(batch, hooks);
            return (resid!, mlpOut!);
        }

        var plain = Run(false);
        var edited = Run(true);
        Assert.Equal(plain.Resid, edited.Resid);
        Assert.True(plain.MlpOut.Zip(edited.MlpOut).Max(p => Math.Abs(p.First - p.Second)) > 1e-3f, "the edit did not reach the MLP");
    }

    [Fact]
    public void MlpInIsNotInTheDefaultCacheButParses()
    {
        var c = TinyModels.Gpt2Like();
        Assert.False(CacheFilter.All().Includes(HookName.Of(ActivationSite.MlpIn, 0)));
        Assert.Equal(HookName.Of(ActivationSite.MlpIn, 1), HookName.Parse("blocks.1.hook_mlp_in", c));
        Assert.Equal("blocks.1.hook_mlp_in", HookName.Of(ActivationSite.MlpIn, 1).ToString());
    }
}
