using HeadMiner.Analysis.Attribution;
using HeadMiner.Hooks;
using HeadMiner.Models;
using HeadMiner.Tasks;
using HeadMiner.Tests.Models;

namespace HeadMiner.Tests.Analysis;

/// <summary>
/// Edge attribution patching is checked by two exact identities of the residual stream (first order, so they hold to
/// float precision whatever the weights): a sender's edges add up to its node score (its output reaches the metric
/// only through the receivers that read it), and a receiver's edges add up to (Δ its input) · ∂metric/∂(its input).
/// </summary>
public class EdgeAttributionPatchingTests
{
    public static TheoryData<int> Configs => AnalysisModels.Indices;

    private static TokenizedPairs Pairs(ModelConfig c, ulong seed)
    {
        var rng = new HeadMiner.Tensors.SeededRandom(seed);
        int[][] clean = [TinyModels.Tokens(c, 9, seed), TinyModels.Tokens(c, 9, seed + 1), TinyModels.Tokens(c, 9, seed + 2)];
        var corrupted = clean.Select(s => (int[])s.Clone()).ToArray();
        foreach (var s in corrupted)
        {
            s[2] = rng.NextInt(c.VocabSize);
            s[5] = rng.NextInt(c.VocabSize);
        }
        return new TokenizedPairs(clean, corrupted, [3, 8, 12], [4, 9, 13]);
    }

    [Theory]
    [MemberData(nameof(Configs))]
    public void EachSendersEdgesAddUpToItsNodeScore(int config)
    {
        var c = AnalysisModels.All[config];
        using var model = TinyModels.Create(c);
        var pairs = Pairs(c, 21);
        var runs = AttributionRuns.Create(model, pairs, MetricKind.LogitDiff);
        var nodes = AttributionPatching.Nodes(runs, pairs);
        var edges = EdgeAttributionPatching.Run(runs);
        int T = pairs.Length;
        double NodeSum(Func<int, float> cell) => Enumerable.Range(0, T).Sum(p => (double)cell(p)) * runs.Span;
        double EdgeSum(string sender) => edges.Edges.Where(e => e.Sender == sender).Sum(e => e.Score);
        for (int l = 0; l < c.Layers; l++)
        {
            // With a post-norm a head's sender term is its frozen-scale residual term, whose change is not Δz_h through
            // the norm's Jacobian (the node score); PostNormHeadSendersAreTheHookedFrozenScaleTerms checks those.
            for (int h = 0; h < c.Heads && !c.PostNorm; h++)
            {
                double node = NodeSum(p => nodes.Heads[l, h, p]);
                Assert.Equal(node, EdgeSum($"a{l}.h{h}"), 1e-4 + 1e-3 * Math.Abs(node));
            }
            double mlp = NodeSum(p => nodes.Mlp[l, p]);
            Assert.Equal(mlp, EdgeSum($"mlp{l}"), 1e-4 + 1e-3 * Math.Abs(mlp));
        }
        Assert.Contains(edges.Edges, e => Math.Abs(e.Normalized) > 1e-2);
        // Ranked by |score|, and no edge runs backwards.
        Assert.True(edges.Edges.Zip(edges.Edges.Skip(1)).All(p => Math.Abs(p.First.Score) >= Math.Abs(p.Second.Score)));
        Assert.DoesNotContain(edges.Edges, e => e.Sender == $"mlp{c.Layers - 1}" && e.Receiver != "logits");
        Assert.Equal(!c.ParallelAttnMlp, edges.Edges.Any(e => e.Sender == "a0.h0" && e.Receiver == "mlp0"));
    }

    [Theory]
    [MemberData(nameof(Configs))]
    public void EachReceiversEdgesAddUpToItsInputChangeTimesItsGradient(int config)
    {
        var c = AnalysisModels.All[config];
        using var model = TinyModels.Create(c);
        var pairs = Pairs(c, 33);
        var runs = AttributionRuns.Create(model, pairs, MetricKind.ProbDiff);
        var edges = EdgeAttributionPatching.Run(runs);
        var receivers = EdgeAttributionPatching.Receivers(runs).ToDictionary(r => r.Name);
        double Expected(string receiver, ReadOnlySpan<float> clean, ReadOnlySpan<float> corrupted)
        {
            var g = receivers[receiver].Gradient;
            double sum = 0;
            for (int i = 0; i < g.Length; i++) sum += ((double)clean[i] - corrupted[i]) * g[i];
            return sum;
        }
        void Check(string receiver, ReadOnlySpan<float> clean, ReadOnlySpan<float> corrupted)
        {
            double expected = Expected(receiver, clean, corrupted);
            double actual = edges.Edges.Where(e => e.Receiver == receiver).Sum(e => e.Score);
            Assert.True(Math.Abs(expected - actual) <= 1e-5 + 1e-3 * Math.Abs(expected), $"{receiver}: edges add up to {actual}, expected {expected}");
        }
        string kv = c.KvHeads == c.Heads ? "h" : "kv";
        for (int l = 0; l < c.Layers; l++)
        {
            var pre = (runs.Clean.ResidPre[l].Value, runs.Corrupted.ResidPre[l].Value);
            Check($"a{l}.h{c.Heads - 1}.q", pre.Item1.Span, pre.Item2.Span);
            Check($"a{l}.{kv}0.k", pre.Item1.Span, pre.Item2.Span);
            Check($"a{l}.{kv}{c.KvHeads - 1}.v", pre.Item1.Span, pre.Item2.Span);
            Check($"mlp{l}", runs.Clean.MlpInput[l].Value.Span, runs.Corrupted.MlpInput[l].Value.Span);
        }
        Check("logits", runs.Clean.ResidFinal.Value.Span, runs.Corrupted.ResidFinal.Value.Span);
        Assert.Equal(c.Layers * (2 * c.KvHeads + c.Heads + 1) + 1, receivers.Count);
    }

    /// <summary>
    /// On post-norm models a head's sender term is g ⊙ z_h·W_O[h] / s in each run. Reference from the real forward's
    /// hooks (hook_result, ln1_post.hook_scale of the clean and the corrupted run), and the identity it must meet: the
    /// sender's edges add up to its term's change times ∂metric/∂(the residual it writes into, resid_mid).
    /// </summary>
    [Theory]
    [MemberData(nameof(PostNormConfigs))]
    public void PostNormHeadSendersAreTheHookedFrozenScaleTerms(int config)
    {
        var c = AnalysisModels.All[config];
        using var model = TinyModels.Create(c);
        var pairs = Pairs(c, 45);
        var runs = AttributionRuns.Create(model, pairs, MetricKind.LogitDiff);
        var senders = EdgeAttributionPatching.Senders(runs).ToDictionary(s => s.Name);
        var edges = EdgeAttributionPatching.Run(runs);
        int rows = pairs.Count * pairs.Length, d = c.DModel;
        for (int l = 0; l < c.Layers; l++)
        {
            var clean = HookedTerms(model, pairs.CleanBatch(), l);
            var corrupted = HookedTerms(model, pairs.CorruptedBatch(), l);
            var residMidGradient = runs.Corrupted.MlpInput[l].Gradient!.Span;
            for (int h = 0; h <= c.Heads; h++)
            {
                string name = h < c.Heads ? $"a{l}.h{h}" : $"a{l}.b_O";
                var delta = senders[name].Delta;
                double largest = 0, written = 0;
                for (int i = 0; i < rows * d; i++)
                {
                    double expected = clean[h][i] - corrupted[h][i];
                    Assert.True(Math.Abs(expected - delta[i]) <= 2e-5 + 1e-4 * Math.Abs(expected), $"{name}[{i}]: {delta[i]}, hooked {expected}");
                    largest = Math.Max(largest, Math.Abs(expected));
                    written += expected * residMidGradient[i];
                }
                Assert.True(largest > 1e-3, $"{name} did not change between the runs: the case shows nothing");
                double sum = edges.Edges.Where(e => e.Sender == name).Sum(e => e.Score);
                Assert.True(Math.Abs(sum - written) <= 1e-5 + 1e-3 * Math.Abs(written), $"{name}: edges add up to {sum}, expected {written}");
            }
        }
    }

    /// <summary>
    /// Exact edge patching, in the limit: deliver ε times the sender's term change to one receiver's own input in the
    /// corrupted run of the real forward (a split q/k/v input hook, or the final residual for the logits) and take the
    /// central difference of the metric. EAP's score is that derivative at ε = 0; a receiver that reads the wrong
    /// gradient (e.g. through a pre-norm a post-norm-only model does not have) fails here.
    /// </summary>
    [Theory]
    [MemberData(nameof(PostNormConfigs))]
    public void PostNormEdgeScoresAreTheDerivativeOfExactEdgePatching(int config)
    {
        var c = AnalysisModels.All[config];
        using var model = TinyModels.Create(c);
        var pairs = Pairs(c, 57);
        var runs = AttributionRuns.Create(model, pairs, MetricKind.LogitDiff);
        var senders = EdgeAttributionPatching.Senders(runs).ToDictionary(s => s.Name);
        var scores = EdgeAttributionPatching.Run(runs).Edges.ToDictionary(e => (e.Sender, e.Receiver), e => e.Score);
        var metric = new Metric(MetricKind.LogitDiff, pairs);
        string kv = c.KvHeads == c.Heads ? "h" : "kv";
        int last = c.Layers - 1, d = c.DModel;
        var receivers = new List<(string Name, HookName Hook, int SiteHead)>
        {
            ($"a{last}.h1.q", HookName.Of(ActivationSite.QInput, last), 1),
            ($"a{last}.{kv}0.k", HookName.Of(ActivationSite.KInput, last), 0),
            ($"a{last}.{kv}1.v", HookName.Of(ActivationSite.VInput, last), 1),
            ("logits", HookName.Of(ActivationSite.ResidPost, last), -1),
        };
        const double eps = 1e-2;
        int checkedEdges = 0;
        foreach (var sender in new[] { "a0.h0", "a0.h2", "a0.b_O", "mlp0", "embed" })
        {
            if (!senders.TryGetValue(sender, out var s)) continue;
            foreach (var (name, hook, siteHead) in receivers)
            {
                double Patched(double scale)
                {
                    var hooks = new HookSet(c);
                    hooks.Add(hook, (activation, _) =>
                    {
                        var live = activation.Span;
                        int rows = s.Delta.Length / d;
                        int heads = siteHead < 0 ? 1 : activation.Dim(2);
                        int head = Math.Max(siteHead, 0);
                        for (int r = 0; r < rows; r++)
                            for (int k = 0; k < d; k++) live[(r * heads + head) * d + k] += (float)(scale * s.Delta[r * d + k]);
                    });
                    return metric.Compute(model.RunWithHooks(pairs.CorruptedBatch(), hooks, lastOnly: true));
                }
                double derivative = (Patched(eps) - Patched(-eps)) / (2 * eps);
                double score = scores[(sender, name)];
                Assert.True(Math.Abs(derivative - score) <= 2e-3 + 2e-2 * Math.Abs(score), $"{sender} → {name}: EAP {score}, derivative of exact patching {derivative}");
                checkedEdges++;
            }
        }
        Assert.True(checkedEdges >= 16, $"only {checkedEdges} edges checked");
    }

    public static TheoryData<int> PostNormConfigs => AnalysisModels.PostNormIndices;

    /// <summary>Per head (then b_O last) of <paramref name="layer"/>: g ⊙ hook_result[h] / ln1_post.hook_scale from a real run, [rows·d].</summary>
    private static float[][] HookedTerms(Transformer model, TokenBatch batch, int layer)
    {
        var c = model.Config;
        var (_, cache) = model.RunWithCache(batch, CacheFilter.Of(HookName.Of(ActivationSite.Result, layer), HookName.Of(ActivationSite.Ln1PostScale, layer)));
        var result = cache.Get(HookName.Of(ActivationSite.Result, layer));
        var scale = cache.Get(HookName.Of(ActivationSite.Ln1PostScale, layer));
        var g = model.Weights.Blocks[layer].Ln1PostWeight!;
        var bo = model.Weights.Blocks[layer].b_O;
        int B = batch.Batch, T = batch.Length, d = c.DModel;
        var terms = new float[c.Heads + 1][];
        for (int h = 0; h <= c.Heads; h++)
        {
            terms[h] = new float[B * T * d];
            for (int b = 0; b < B; b++)
                for (int t = 0; t < T; t++)
                    for (int i = 0; i < d; i++)
                    {
                        float v = h < c.Heads ? result[b, t, h, i] : bo is null ? 0 : bo[i];
                        terms[h][(b * T + t) * d + i] = v / scale[b, t, 0] * g[i];
                    }
        }
        return terms;
    }
}
