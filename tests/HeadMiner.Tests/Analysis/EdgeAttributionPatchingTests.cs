using HeadMiner.Analysis.Attribution;
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
    public static TheoryData<int> Configs => [0, 1, 2, 4, 6];

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
        var c = TinyModels.All[config];
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
            for (int h = 0; h < c.Heads; h++)
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
        var c = TinyModels.All[config];
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
}
