using HeadMiner.Analysis.Atlas;
using HeadMiner.Analysis.Detectors;
using HeadMiner.Hooks;
using HeadMiner.Hooks.Interventions;
using HeadMiner.Models;
using HeadMiner.Tensors;

namespace HeadMiner.Tests.Models;

/// <summary>
/// Prefix reuse (<see cref="Transformer.ReusePrefixes"/>): a run whose hooks start at layer l resumes there from an
/// earlier run of the same tokens, and its logits are bit for bit the full run's, on every family's skeleton.
/// </summary>
public class PrefixReuseTests
{
    public static TheoryData<int> Families => AnalysisModels.Indices;

    private static Transformer Model(int index, int layers = 5)
    {
        var c = AnalysisModels.All[index];
        var config = c with { Layers = layers, ContextLength = 128, AttentionWindow = [.. Enumerable.Range(0, layers).Select(l => c.AttentionWindow[l % c.AttentionWindow.Length])] };
        return new Transformer(config, RandomWeights.Create(config, seed: (ulong)(17 + index)), "random");
    }

    private static TokenBatch Batch(ModelConfig c, ulong seed) => new(TinyModels.Tokens(c, 2 * 7, seed), 2, 7);

    [Theory]
    [MemberData(nameof(Families))]
    public void AnAblatedRunResumesAtItsLayerAndGivesTheFullRunsLogits(int family)
    {
        using var model = Model(family);
        var c = model.Config;
        var batch = Batch(c, 3);
        var hooks = new HookSet(c);
        HeadAblation.Zero(hooks, 3, 1);
        var full = model.RunWithHooks(batch, hooks).ToArray();
        var clean = model.Forward(batch).ToArray();

        using var scope = model.ReusePrefixes();
        Assert.Equal(clean, model.Forward(batch).ToArray()); // stores the inputs of layers 1–4
        Assert.Equal(0, scope.Reuse.LayersSkipped);
        // A new TokenBatch with the same tokens is the same prompts.
        var again = new TokenBatch((int[])batch.Ids.Clone(), batch.Batch, batch.Length);
        Assert.Equal(full, model.RunWithHooks(again, hooks).ToArray());
        Assert.Equal(3, scope.Reuse.LayersSkipped);
        // Hooks on the embedding, or other tokens, run every layer.
        var embedHooks = new HookSet(c);
        embedHooks.Add(HookName.Of(ActivationSite.Embed), (t, _) => t.Span.Clear());
        model.RunWithHooks(batch, embedHooks);
        model.RunWithHooks(Batch(c, 4), hooks);
        Assert.Equal(3, scope.Reuse.LayersSkipped);
        Assert.Equal(3 * c.Layers + (c.Layers - 3), scope.Reuse.LayersRun); // clean, embedding-hooked and other tokens in full; the resumed run above layer 3
    }

    [Fact]
    public void OutsideTheScopeAndOverBudgetNothingIsReused()
    {
        using var model = Model(0);
        var batch = Batch(model.Config, 5);
        var hooks = new HookSet(model.Config);
        HeadAblation.Zero(hooks, 4, 0);
        PrefixReuse reuse;
        using (var scope = model.ReusePrefixes(maxFloats: 2 * model.Config.DModel * batch.Ids.Length))
        {
            reuse = scope.Reuse;
            model.Forward(batch);
            model.RunWithHooks(batch, hooks);
            // Only two layers' inputs fit: the run resumes from the deepest stored one, layer 2.
            Assert.Equal(2, reuse.LayersSkipped);
        }
        model.RunWithHooks(batch, hooks);
        Assert.Equal(2, reuse.LayersSkipped);
    }

    /// <summary>The atlas's causal checks run inside a scope: their evidence equals the evidence computed without one.</summary>
    [Fact]
    public void CausalEvidenceIsTheSameWithPrefixReuse()
    {
        using var model = Model(2, layers: 4);
        var context = new DetectorContext(model, null, new DetectorOptions { Prompts = 4 });
        var detector = (ICausalDetector)DetectorRegistry.Parse("previous_token")[0];
        var result = DetectorRunner.Run(detector, context);
        var options = new AtlasOptions { RandomHeads = 6, RandomDraws = 4 };
        var plain = CausalConfirmation.Run(model, detector.CausalTask(context)!, result, options);
        AtlasCausal reused;
        using (var scope = model.ReusePrefixes())
        {
            reused = CausalConfirmation.Run(model, detector.CausalTask(context)!, result, options);
            Assert.True(scope.Reuse.LayersSkipped > 0);
        }
        Assert.Equal(Json(plain with { Seconds = 0 }), Json(reused with { Seconds = 0 }));
    }

    private static string Json(AtlasCausal causal) => System.Text.Json.JsonSerializer.Serialize(causal);
}
