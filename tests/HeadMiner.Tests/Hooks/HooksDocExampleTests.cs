using HeadMiner.Hooks;
using HeadMiner.Hooks.Interventions;
using HeadMiner.Models;

namespace HeadMiner.Tests.Hooks;

/// <summary>The two examples of docs/HOOKS.md, verbatim apart from the asserts, so the doc stays true to the code.</summary>
public class HooksDocExampleTests
{
    [Fact]
    public void TheCacheAndZeroAblationExamplesRunAndMeanWhatTheDocSays()
    {
        using var loaded = ModelLoader.Load(TestPaths.SharedModel("stories260K"));
        var model = loaded.Model;
        int[] ids = loaded.RequireTokenizer().Encode("Once upon a time");
        var filter = CacheFilter.Names(model.Config, "blocks.2.attn.hook_pattern", "blocks.4.hook_resid_post") with { HalfPrecision = true };
        var (result, cache) = model.RunWithCache(ids, filter);
        var pattern = cache["blocks.2.attn.hook_pattern"];  // [1, H, T, T]
        float toFirst = pattern[0, 3, ids.Length - 1, 0];   // head 3, last query → BOS
        Assert.Equal([1, model.Config.Heads, ids.Length, ids.Length], pattern.Shape.ToArray());
        Assert.InRange(toFirst, 0f, 1f);
        Assert.Equal(2, cache.Names.Count);

        var hooks = new HookSet(model.Config);
        hooks.Add("blocks.1.attn.hook_z", (z, _) =>      // z: [B, T, H, d_head], a view on the live buffer
        {
            for (int b = 0; b < z.Dim(0); b++)
                for (int t = 0; t < z.Dim(1); t++)
                    z.Select(0, b).Select(0, t).Select(0, 3).Span.Clear();
        });
        var ablated = model.RunWithHooks(TokenBatch.Single(ids), hooks);  // logits [1, T, V]

        var library = new HookSet(model.Config);
        HeadAblation.Zero(library, 1, 3);
        Assert.Equal(model.RunWithHooks(TokenBatch.Single(ids), library).ToArray(), ablated.ToArray());
        Assert.NotEqual(result.Logits!.ToArray(), ablated.ToArray());
    }
}
