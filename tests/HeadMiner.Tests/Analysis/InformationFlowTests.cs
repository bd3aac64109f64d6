using HeadMiner.Analysis;
using HeadMiner.Hooks;
using HeadMiner.Models;
using HeadMiner.Tests.Models;

namespace HeadMiner.Tests.Analysis;

/// <summary>
/// The flow graph's shares against a brute-force reference: each head-and-key-position term is taken from a hooked
/// forward pass whose attention pattern keeps only that one entry per query (the post-norm held at the clean run's
/// scale), so the terms come from the model itself, not from v·W_O; the importances are then recomputed here.
/// </summary>
public class InformationFlowTests
{
    public static TheoryData<int> Configs => AnalysisModels.Indices;

    private const int Tokens = 7;

    [Theory]
    [MemberData(nameof(Configs))]
    public void SharesEqualTheBruteForceDecompositionOfEverySum(int index)
    {
        var c = AnalysisModels.All[index];
        using var model = TinyModels.Create(c, seed: 23);
        var ids = TinyModels.Tokens(c, Tokens, 5);
        var flow = InformationFlow.Compute(model, ids);
        var (_, clean) = model.RunWithCache(ids, CacheFilter.Of(InformationFlow.Hooks(c)));
        int d = c.DModel;
        bool someHeadMatters = false;
        for (int l = 0; l < c.Layers; l++)
        {
            var pre = clean[ActivationSite.ResidPre, l].ToArray();
            var post = clean[ActivationSite.ResidPost, l].ToArray();
            var mlpOut = clean[ActivationSite.MlpOut, l].ToArray();
            var mid = c.ParallelAttnMlp ? null : clean[ActivationSite.ResidMid, l].ToArray();
            float[]? scale = c.PostNorm ? clean[ActivationSite.Ln1PostScale, l].ToArray() : null;
            var biasOut = AttnOutWithPattern(model, ids, l, scale, keep: null);
            var terms = new float[c.Heads, Tokens][];
            for (int h = 0; h < c.Heads; h++)
                for (int k = 0; k < Tokens; k++)
                    terms[h, k] = Minus(AttnOutWithPattern(model, ids, l, scale, keep: (h, k)), biasOut);

            for (int q = 0; q < Tokens; q++)
            {
                var y = Row(mid ?? post, q, d);
                // The decomposition is complete: residual + every head/key term + b_O (+ MLP when parallel) = the sum.
                var rebuilt = Row(pre, q, d);
                for (int h = 0; h < c.Heads; h++)
                    for (int k = 0; k < Tokens; k++) Add(rebuilt, Row(terms[h, k], q, d));
                Add(rebuilt, Row(biasOut, q, d));
                if (c.ParallelAttnMlp) Add(rebuilt, Row(mlpOut, q, d));
                double scaleOfY = y.Max(v => Math.Abs(v));
                for (int i = 0; i < d; i++) Assert.True(Math.Abs(rebuilt[i] - y[i]) <= 1e-4 * scaleOfY + 1e-5, $"layer {l} position {q}: the terms do not add up to the sum");

                var importances = new List<double> { Importance(y, Row(pre, q, d)), Importance(y, Row(biasOut, q, d)) };
                if (c.ParallelAttnMlp) importances.Add(Importance(y, Row(mlpOut, q, d)));
                var headImportance = new double[c.Heads, Tokens];
                for (int h = 0; h < c.Heads; h++)
                    for (int k = 0; k < Tokens; k++)
                        importances.Add(headImportance[h, k] = k > q ? 0 : Importance(y, Row(terms[h, k], q, d)));
                double total = importances.Sum();
                Assert.True(total > 0);
                Assert.Equal(importances[0] / total, flow.AttentionResidual[l][q], 1e-5);
                Assert.Equal(importances[1] / total, flow.AttentionBias[l][q], 1e-5);
                for (int h = 0; h < c.Heads; h++)
                {
                    for (int k = 0; k < Tokens; k++)
                    {
                        Assert.Equal(headImportance[h, k] / total, flow.HeadShares[l][q][h][k], 1e-5);
                        if (k > q) Assert.Equal(0, flow.HeadShares[l][q][h][k]);
                    }
                    someHeadMatters |= flow.HeadShare(l, q, h) > 0.02;
                }

                if (c.ParallelAttnMlp)
                {
                    Assert.Null(flow.MlpResidual);
                    Assert.Equal(importances[2] / total, flow.Mlp[l][q], 1e-5);
                }
                else
                {
                    var p = Row(post, q, d);
                    double fromResidual = Importance(p, Row(mid!, q, d)), fromMlp = Importance(p, Row(mlpOut, q, d));
                    Assert.Equal(fromResidual / (fromResidual + fromMlp), flow.MlpResidual![l][q], 1e-5);
                    Assert.Equal(fromMlp / (fromResidual + fromMlp), flow.Mlp[l][q], 1e-5);
                }
                double shareSum = flow.AttentionResidual[l][q] + flow.AttentionBias[l][q] + Enumerable.Range(0, c.Heads).Sum(h => flow.HeadShare(l, q, h))
                    + (c.ParallelAttnMlp ? flow.Mlp[l][q] : 0);
                Assert.Equal(1, shareSum, 1e-9);
            }
        }
        Assert.True(someHeadMatters, "no head carries more than 2% anywhere: the comparison would be vacuous");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public void RoutesKeepEveryEdgeAboveTheThresholdThatReachesTheLastToken(int index)
    {
        var c = AnalysisModels.All[index]; // GPT-2-shaped (sequential) and GPT-NeoX-shaped (parallel)
        using var model = TinyModels.Create(c, seed: 29);
        var flow = InformationFlow.Compute(model, TinyModels.Tokens(c, Tokens, 8));
        const double threshold = 0.04;
        var routes = flow.Routes(threshold);
        Assert.NotEmpty(routes);
        Assert.All(routes, e => Assert.True(e.Share >= threshold));
        Assert.Contains(routes, e => e.Kind == FlowEdgeKind.Head);
        // Reached from the top: every kept edge ends at the last token's top point or at a node some kept edge starts from.
        var sources = routes.Select(e => (e.FromDepth, e.FromPosition)).ToHashSet();
        Assert.All(routes, e => Assert.True((e.ToDepth, e.ToPosition) == (2 * c.Layers, Tokens - 1) || sources.Contains((e.ToDepth, e.ToPosition))));
        // Complete: for every node on a route, each incoming edge at or above the threshold is kept.
        var nodes = routes.Select(e => (e.FromDepth, e.FromPosition)).Append((2 * c.Layers, Tokens - 1)).Distinct();
        foreach (var (depth, position) in nodes.Where(n => n.Item1 > 0))
            foreach (var e in flow.Incoming(depth, position).Where(e => e.Share >= threshold))
                Assert.Contains(e, routes);
        // A lower threshold keeps a superset.
        Assert.Superset(routes.ToHashSet(), flow.Routes(threshold / 4).ToHashSet());
    }

    [Fact]
    public void AnEmptyPromptOrAPositionOutsideThePromptIsOneClearError()
    {
        var c = TinyModels.Gpt2Like();
        using var model = TinyModels.Create(c);
        Assert.Contains("at least one token", Assert.Throws<HeadMinerException>(() => InformationFlow.Compute(model, [])).Message);
        var flow = InformationFlow.Compute(model, [1, 2, 3]);
        Assert.Contains("position 5 is outside", Assert.Throws<HeadMinerException>(() => flow.Routes(0.1, 5)).Message);
    }

    /// <summary>
    /// hook_attn_out of <paramref name="layer"/> when the pattern keeps only head h's weight on key k at every query
    /// (nothing at all when <paramref name="keep"/> is null: then only b_O is left), the post-norm scale frozen.
    /// </summary>
    private static float[] AttnOutWithPattern(Transformer model, int[] ids, int layer, float[]? scale, (int Head, int Key)? keep)
    {
        var hooks = new HookSet(model.Config);
        hooks.Add(HookName.Of(ActivationSite.Pattern, layer), (pattern, _) =>
        {
            int heads = pattern.Dim(1), t = pattern.Dim(2);
            var span = pattern.Span;
            for (int h = 0; h < heads; h++)
                for (int q = 0; q < t; q++)
                    for (int k = 0; k < t; k++)
                        if (keep is not { } x || x.Head != h || x.Key != k) span[(h * t + q) * t + k] = 0;
        });
        if (scale is not null) hooks.Add(HookName.Of(ActivationSite.Ln1PostScale, layer), (s, _) => scale.CopyTo(s.Span));
        var (_, cache) = model.RunWithCache(TokenBatch.Single(ids), CacheFilter.Of(HookName.Of(ActivationSite.AttnOut, layer)), hooks);
        return cache[ActivationSite.AttnOut, layer].ToArray();
    }

    private static double Importance(float[] y, float[] term)
    {
        double norm = 0, distance = 0;
        for (int i = 0; i < y.Length; i++)
        {
            norm += Math.Abs((double)y[i]);
            distance += Math.Abs((double)y[i] - term[i]);
        }
        return Math.Max(0, norm - distance);
    }

    private static float[] Row(float[] rows, int r, int d) => rows.AsSpan(r * d, d).ToArray();

    private static float[] Minus(float[] a, float[] b) => a.Zip(b, (x, y) => x - y).ToArray();

    private static void Add(float[] into, float[] v)
    {
        for (int i = 0; i < into.Length; i++) into[i] += v[i];
    }
}
