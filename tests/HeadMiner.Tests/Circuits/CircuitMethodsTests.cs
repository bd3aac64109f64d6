using HeadMiner.Analysis.Attribution;
using HeadMiner.Analysis.Circuits;
using HeadMiner.Tasks;
using HeadMiner.Tests.Models;

namespace HeadMiner.Tests.Circuits;

/// <summary>ACDC, EAP / EAP-IG on the graph, top-n circuits and faithfulness, on small random models.</summary>
public class CircuitMethodsTests
{
    public static TheoryData<int> Configs => EdgePatcherTests.Configs;

    [Theory]
    [MemberData(nameof(Configs))]
    public void EapIgWithOneStepIsEap(int config)
    {
        var c = EdgePatcherTests.Config(config);
        using var model = TinyModels.Create(c, seed: 23);
        var pairs = EdgePatcherTests.Pairs(c, 2);
        var graph = CircuitGraph.Create(c);
        var eap = EapScores.Compute(model, pairs, MetricKind.LogitDiff, graph);
        var ig = EapIgScores.Compute(model, pairs, MetricKind.LogitDiff, graph, steps: 1);
        Assert.Contains(eap, s => Math.Abs(s) > 1e-2);
        for (int e = 0; e < graph.EdgeCount; e++)
            Assert.True(Math.Abs(eap[e] - ig[e]) <= 1e-5 + 1e-4 * Math.Abs(eap[e]), $"{graph.EdgeName(e)}: EAP {eap[e]}, EAP-IG(1) {ig[e]}");
    }

    [Fact]
    public void EapIgOnTheUnsplitGraphAddsTheHeadInputs()
    {
        var c = TinyModels.Gpt2Like();
        using var model = TinyModels.Create(c, seed: 29);
        var pairs = EdgePatcherTests.Pairs(c, 3);
        var split = CircuitGraph.Create(c);
        var unsplit = CircuitGraph.Create(c, splitQkv: false);
        var s = EapIgScores.Compute(model, pairs, MetricKind.LogitDiff, split, steps: 3);
        var u = EapIgScores.Compute(model, pairs, MetricKind.LogitDiff, unsplit, steps: 3);
        double Sum(string receiver) => new[] { "q", "k", "v" }.Sum(p => s[split.FindEdge($"embed->{receiver}.{p}")!.Value]);
        Assert.Equal(Sum("a1.h2"), u[unsplit.FindEdge("embed->a1.h2")!.Value], 6);
        Assert.Equal(s[split.FindEdge("a0.h1->mlp1")!.Value], u[unsplit.FindEdge("a0.h1->mlp1")!.Value], 6);
    }

    /// <summary>
    /// The embedding feeds every receiver, so its edges' EAP-IG scores add up to integrated gradients over the input
    /// embedding, which tends to clean − corrupted as the steps grow (completeness); one step (EAP) is only first order.
    /// </summary>
    [Theory]
    [MemberData(nameof(Configs))]
    public void EapIgEmbeddingEdgesApproachTheFullChange(int config)
    {
        var c = EdgePatcherTests.Config(config);
        using var model = TinyModels.Create(c, seed: 31);
        var pairs = EdgePatcherTests.Pairs(c, 7);
        var graph = CircuitGraph.Create(c);
        var patcher = EdgePatcher.Create(model, pairs, MetricKind.LogitDiff, graph);
        double change = patcher.CleanMetric - patcher.CorruptedMetric;
        double EmbedSum(double[] scores) => graph.EdgesOutOf[0].Sum(e => scores[e]);
        double error1 = Math.Abs(EmbedSum(EapIgScores.Compute(model, pairs, MetricKind.LogitDiff, graph, 1)) - change);
        double error40 = Math.Abs(EmbedSum(EapIgScores.Compute(model, pairs, MetricKind.LogitDiff, graph, 40)) - change);
        Assert.True(error40 < 0.05 * Math.Abs(change) + 1e-3, $"40 steps: off by {error40} of {change}");
        Assert.True(error40 < error1, $"40 steps off by {error40}, 1 step by {error1}");
    }

    /// <summary>
    /// EAP-IG over activations interpolates one node's output at a time with everything downstream recomputed, so the
    /// edges out of that node (the embedding, a layer's heads, an MLP) add up to integrated gradients along that
    /// path: with 100 steps (a right Riemann sum, error O(1/k): 40 steps are still ~10 % off here), the metric of the
    /// clean run minus that of the clean run with the node's output corrupted (completeness).
    /// </summary>
    [Theory]
    [MemberData(nameof(Configs))]
    public void EapIgOverActivationsEdgesOfANodeAddUpToThatNodesChange(int config)
    {
        var c = EdgePatcherTests.Config(config);
        using var model = TinyModels.Create(c, seed: 41);
        var pairs = EdgePatcherTests.Pairs(c, 13);
        var graph = CircuitGraph.Create(c);
        var scores = EapIgScores.Activations(model, pairs, MetricKind.LogitDiff, graph, 100);
        var forward = new DifferentiableTransformer(model);
        var clean = forward.Run(pairs.CleanBatch(), withGradient: false);
        var corrupted = forward.Run(pairs.CorruptedBatch(), withGradient: false);
        double Metric(DifferentiableRun run) => MetricGradient.Compute(MetricKind.LogitDiff, pairs, run.Logits.Value, clean.Logits.Value).Value;
        double cleanMetric = Metric(clean);
        var nodes = new List<(string Name, Func<CircuitSender, bool> Sends, double Change)>
        {
            ("embed", s => s.Kind == SenderKind.Input, cleanMetric - Metric(forward.Run(pairs.CleanBatch(), false, embedding: corrupted.Embed.Value.Contiguous().ToArray()))),
        };
        for (int l = 0; l < c.Layers; l++)
        {
            int layer = l;
            foreach (bool mlp in new[] { false, true })
            {
                var output = (mlp ? corrupted.MlpOut[l] : corrupted.AttnOut[l]).Value.Contiguous().ToArray();
                double change = cleanMetric - Metric(forward.Run(pairs.CleanBatch(), false, replace: new DifferentiableTransformer.LayerOutput(l, mlp, output)));
                nodes.Add((mlp ? $"mlp{l}" : $"attn{l}", s => s.Layer == layer && s.Kind == (mlp ? SenderKind.Mlp : SenderKind.Head), change));
            }
        }
        Assert.Contains(nodes, n => Math.Abs(n.Change) > 1e-2);
        foreach (var (name, sends, change) in nodes)
        {
            double sum = graph.Edges.Where(e => sends(graph.Senders[e.Sender])).Sum(e => scores[e.Index]);
            Assert.True(Math.Abs(sum - change) < 0.05 * Math.Abs(change) + 2e-3, $"{name}: its edges add up to {sum}, its change is {change}");
        }
    }

    [Theory]
    [MemberData(nameof(Configs))]
    public void AcdcWithInfiniteTauKeepsNothingAndWithTauBelowEveryEffectKeepsEverything(int config)
    {
        var c = EdgePatcherTests.Config(config);
        using var model = TinyModels.Create(c, seed: 37);
        var patcher = EdgePatcher.Create(model, EdgePatcherTests.Pairs(c, 11), MetricKind.LogitDiff);
        var none = Acdc.Run(patcher, double.PositiveInfinity);
        Assert.Equal(0, none.EdgeCount);
        // |change| < 0 never holds: every edge stays.
        var all = Acdc.Run(patcher, 0);
        Assert.Equal(patcher.Graph.EdgeCount, all.EdgeCount);
        Assert.DoesNotContain(all.Scores, double.IsNaN);
        // KL: the change is signed, so a τ below every change keeps every edge too.
        var kl = EdgePatcher.Create(model, EdgePatcherTests.Pairs(c, 11), MetricKind.KlDivergence);
        Assert.Equal(kl.Graph.EdgeCount, Acdc.Run(kl, -1e9).EdgeCount);
    }

    [Fact]
    public void AcdcCircuitIsFaithfulToItsThresholdAndResumesWhereItStopped()
    {
        var c = TinyModels.Gpt2Like();
        using var model = TinyModels.Create(c, seed: 41);
        var patcher = EdgePatcher.Create(model, EdgePatcherTests.Pairs(c, 13), MetricKind.KlDivergence);
        const double tau = 0.002;
        var whole = Acdc.Run(patcher, tau);
        Assert.InRange(whole.EdgeCount, 1, patcher.Graph.EdgeCount - 1);
        // Each removal moved KL by < τ, so the circuit alone is within (removals × τ) of clean behaviour.
        var alone = Faithfulness.Of(patcher, whole);
        Assert.True(alone.Metric < tau * (patcher.Graph.EdgeCount - whole.EdgeCount), $"KL of the circuit {alone.Metric}");
        Assert.True(alone.Metric < patcher.CorruptedMetric);

        // Stop after 5 receivers, then resume from the saved state: the same circuit.
        using var stop = new CancellationTokenSource();
        AcdcState? saved = null;
        Assert.ThrowsAny<OperationCanceledException>(() => Acdc.Run(patcher, tau, checkpoint: s =>
        {
            saved = s;
            if (s.Visited == 5) stop.Cancel();
        }, cancel: stop.Token));
        Assert.NotNull(saved);
        Assert.Equal(5, saved!.Visited);
        var resumed = Acdc.Run(patcher, tau, saved);
        Assert.Equal(whole.Kept, resumed.Kept);
    }

    [Theory]
    [MemberData(nameof(Configs))]
    public void TheWholeGraphIsFullyFaithfulAndTheEmptyCircuitIsTheCorruptedRun(int config)
    {
        var c = EdgePatcherTests.Config(config);
        using var model = TinyModels.Create(c, seed: 43);
        var pairs = EdgePatcherTests.Pairs(c, 17);
        var patcher = EdgePatcher.Create(model, pairs, MetricKind.LogitDiff);
        var graph = patcher.Graph;
        var scores = EapScores.Compute(model, pairs, MetricKind.LogitDiff, graph);
        var whole = TopEdges.Select(graph, scores, graph.EdgeCount, "eap");
        var f = Faithfulness.Of(patcher, whole);
        Assert.Equal(patcher.CleanMetric, f.Metric, 9);
        Assert.Equal(1.0, f.Value, 9);
        var empty = Faithfulness.Of(patcher, TopEdges.Select(graph, scores, 0, "eap"));
        Assert.True(Math.Abs(empty.Value) < 1e-3, $"empty circuit faithfulness {empty.Value}");
        var curve = Faithfulness.Curve(patcher, scores);
        Assert.Equal(1.0, curve.Points[^1].Value, 9);
        Assert.Equal(curve.Points.Count, Faithfulness.DefaultBudgets.Count);
        Assert.True(curve.Points.Zip(curve.Points.Skip(1)).All(p => p.First.Edges <= p.Second.Edges));
        // Necessity of the whole graph's edges: patching one edge of the full model moves faithfulness by its own effect.
        var necessity = Faithfulness.Necessity(patcher, whole);
        int top = TopEdges.Ranking(scores)[0];
        double single = 1 - Metric.Normalize(patcher.Evaluate(EdgePatcherTests.Only(graph, top)), patcher.CleanMetric, patcher.CorruptedMetric);
        Assert.Equal(single, necessity[Array.IndexOf(whole.Edges, top)], 9);
    }

    [Fact]
    public void TopEdgesKeepsTheLargestMagnitudes()
    {
        var c = TinyModels.Gpt2Like();
        var graph = CircuitGraph.Create(c);
        var scores = new double[graph.EdgeCount];
        scores[5] = -3;
        scores[2] = 2;
        scores[7] = double.NaN;
        scores[9] = 1;
        var circuit = TopEdges.Select(graph, scores, 2, "test");
        Assert.Equal([2, 5], circuit.Edges);
        Assert.Throws<HeadMinerException>(() => TopEdges.Select(graph, scores, graph.EdgeCount + 1, "test"));
    }
}
