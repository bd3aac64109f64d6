using HeadMiner.Analysis.Attribution;
using HeadMiner.Analysis.Circuits;
using HeadMiner.Analysis.Truth;
using HeadMiner.Tasks;
using HeadMiner.Tests.Models;

namespace HeadMiner.Tests.Circuits;

/// <summary>
/// EAP-IG over receiver inputs (<see cref="EapIgScores.ReceiverInputs"/>) on small random models: GPT-2-, NeoX-
/// (parallel blocks), Llama- (RMSNorm, rotary, grouped k/v heads) and Qwen3-shaped (QK-norm), 3 pairs of 7 tokens.
/// </summary>
public class EapIgReceiverInputsTests
{
    public static TheoryData<int> Configs => [0, 1, 2, 3];

    private static HeadMiner.Models.ModelConfig Config(int index) => index == 3 ? TinyModels.Qwen3Like() : EdgePatcherTests.Config(index);

    /// <summary>
    /// Integrated gradients on each receiver's own input: the edges into a receiver add up, as the steps grow (a left
    /// Riemann sum, error O(1/k)), to the clean metric minus the metric with that receiver's whole input corrupted —
    /// which the edge patcher (its own forward pass, no gradients) measures by patching every edge into it.
    /// </summary>
    [Theory]
    [MemberData(nameof(Configs))]
    public void EdgesIntoAReceiverAddUpToPatchingThemAll(int config)
    {
        var c = Config(config);
        using var model = TinyModels.Create(c, seed: 47);
        var pairs = EdgePatcherTests.Pairs(c, 17);
        var graph = CircuitGraph.Create(c);
        var scores = EapIgScores.ReceiverInputs(model, pairs, MetricKind.LogitDiff, graph, 100, maxRowsPerRun: 5 * pairs.Count * pairs.Length);
        var patcher = EdgePatcher.Create(model, pairs, MetricKind.LogitDiff, graph);
        int large = 0;
        foreach (var r in graph.Receivers)
        {
            var patched = new bool[graph.EdgeCount];
            foreach (int e in graph.EdgesInto[r.Index]) patched[e] = true;
            double change = patcher.CleanMetric - patcher.Evaluate(patched);
            double sum = graph.EdgesInto[r.Index].Sum(e => scores[e]);
            if (Math.Abs(change) > 1e-2) large++;
            Assert.True(Math.Abs(sum - change) < 0.05 * Math.Abs(change) + 2e-3, $"{r.Name}: its edges add up to {sum}, patching them all moves the metric by {change}");
        }
        Assert.True(large >= graph.Receivers.Count / 3, $"only {large} of {graph.Receivers.Count} receivers move the metric by more than 0.01");
    }

    /// <summary>The same on the unsplit graph: a head's q, k and v inputs read its one interpolated input together.</summary>
    [Fact]
    public void UnsplitHeadReceiversAddUpToPatchingThemAll()
    {
        var c = TinyModels.Gpt2Like();
        using var model = TinyModels.Create(c, seed: 53);
        var pairs = EdgePatcherTests.Pairs(c, 19);
        var graph = CircuitGraph.Create(c, splitQkv: false);
        var scores = EapIgScores.ReceiverInputs(model, pairs, MetricKind.LogitDiff, graph, 100);
        var patcher = EdgePatcher.Create(model, pairs, MetricKind.LogitDiff, graph);
        foreach (var r in graph.Receivers.Where(r => r.Kind == ReceiverKind.HeadInputs))
        {
            var patched = new bool[graph.EdgeCount];
            foreach (int e in graph.EdgesInto[r.Index]) patched[e] = true;
            double change = patcher.CleanMetric - patcher.Evaluate(patched);
            double sum = graph.EdgesInto[r.Index].Sum(e => scores[e]);
            Assert.True(Math.Abs(sum - change) < 0.05 * Math.Abs(change) + 2e-3, $"{r.Name}: its edges add up to {sum}, patching them all moves the metric by {change}");
        }
    }

    /// <summary>
    /// With one step the only point is each receiver's corrupted input with everything else clean. For the logits
    /// nothing comes after them, so that is EAP's gradient (the fully corrupted run's) exactly; for the other receivers it
    /// is not (EAP corrupts every input at once), and the scores differ.
    /// </summary>
    [Theory]
    [MemberData(nameof(Configs))]
    public void OneStepIsEapOnTheEdgesIntoTheLogits(int config)
    {
        var c = Config(config);
        using var model = TinyModels.Create(c, seed: 59);
        var pairs = EdgePatcherTests.Pairs(c, 23);
        var graph = CircuitGraph.Create(c);
        var eap = EapScores.Compute(model, pairs, MetricKind.LogitDiff, graph);
        var recv = EapIgScores.ReceiverInputs(model, pairs, MetricKind.LogitDiff, graph, 1);
        var logits = graph.EdgesInto[graph.Receivers.Count - 1];
        Assert.Contains(logits, e => Math.Abs(eap[e]) > 1e-2);
        foreach (int e in logits)
            Assert.True(Math.Abs(eap[e] - recv[e]) <= 1e-5 + 1e-4 * Math.Abs(eap[e]), $"{graph.EdgeName(e)}: EAP {eap[e]}, over receiver inputs {recv[e]}");
        Assert.Contains(Enumerable.Range(0, graph.EdgeCount).Except(logits), e => Math.Abs(eap[e] - recv[e]) > 1e-3);
    }

    /// <summary>Batching receivers and steps as copies of the pair batch changes nothing: one copy per run gives the same scores.</summary>
    [Fact]
    public void BatchedCopiesEqualOneRunPerCopy()
    {
        var c = TinyModels.LlamaLike();
        using var model = TinyModels.Create(c, seed: 61);
        var pairs = EdgePatcherTests.Pairs(c, 29);
        var graph = CircuitGraph.Create(c);
        var batched = EapIgScores.ReceiverInputs(model, pairs, MetricKind.KlDivergence, graph, 3);
        var single = EapIgScores.ReceiverInputs(model, pairs, MetricKind.KlDivergence, graph, 3, maxRowsPerRun: 1);
        Assert.Contains(batched, s => Math.Abs(s) > 1e-4);
        for (int e = 0; e < graph.EdgeCount; e++)
            Assert.True(Math.Abs(batched[e] - single[e]) <= 1e-6 + 1e-4 * Math.Abs(single[e]), $"{graph.EdgeName(e)}: batched {batched[e]}, one copy per run {single[e]}");
    }

    /// <summary>
    /// With a step budget, every receiver whose edges miss completeness by more than the tolerance gets its grid refined:
    /// from 2 steps (where some receivers miss it) to at most 1024, every receiver's edges then add up to patching them
    /// all within 0.02 of |clean − corrupted| (plus the two forward passes' float differences).
    /// </summary>
    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    public void RefinedReceiversMeetTheCompletenessTolerance(int config)
    {
        var c = Config(config);
        using var model = TinyModels.Create(c, seed: 67);
        var pairs = EdgePatcherTests.Pairs(c, 31);
        var graph = CircuitGraph.Create(c);
        var patcher = EdgePatcher.Create(model, pairs, MetricKind.LogitDiff, graph);
        double span = Math.Abs(patcher.CleanMetric - patcher.CorruptedMetric);
        var coarse = EapIgScores.ReceiverInputs(model, pairs, MetricKind.LogitDiff, graph, 2);
        var refined = EapIgScores.ReceiverInputs(model, pairs, MetricKind.LogitDiff, graph, 2, maxSteps: 1024, tolerance: 0.02);
        int missedCoarse = 0;
        foreach (var r in graph.Receivers)
        {
            var patched = new bool[graph.EdgeCount];
            foreach (int e in graph.EdgesInto[r.Index]) patched[e] = true;
            double change = patcher.CleanMetric - patcher.Evaluate(patched);
            if (Math.Abs(graph.EdgesInto[r.Index].Sum(e => coarse[e]) - change) > 0.02 * span) missedCoarse++;
            double sum = graph.EdgesInto[r.Index].Sum(e => refined[e]);
            Assert.True(Math.Abs(sum - change) <= 0.02 * span + 1e-3, $"{r.Name}: its edges add up to {sum}, patching them all moves the metric by {change} (span {span})");
        }
        Assert.True(missedCoarse > 0, "2 steps already met the tolerance everywhere: the refinement was not exercised");
    }

    /// <summary>
    /// On planted IOI circuits (GPT-2; Llama with grouped k/v heads; Llama), where EAP-IG over inputs or activations
    /// misses edges: 5 steps refined to completeness recover the circuit at 0.1 · |clean − corrupted| without a decoy,
    /// and the AND-like edge embed → M.k (the key at S1, which matters only while S is inhibited) scores at least a
    /// quarter of the span (patching it alone moves the metric by 0.7–1.5 span).
    /// </summary>
    [Theory]
    [InlineData(0, 2UL)]
    [InlineData(1, 1UL)]
    [InlineData(1, 3UL)]
    public void RecoversPlantedIoiCircuits(int skeleton, ulong seed)
    {
        var planted = PlantedCircuits.Create("ioi", skeleton == 0 ? PlantedSkeleton.Gpt2 : PlantedSkeleton.Llama, seed);
        var graph = CircuitGraph.Create(planted.Model.Config);
        var patcher = EdgePatcher.Create(planted.Model, planted.Pairs, planted.Metric, graph);
        double span = Math.Abs(patcher.CleanMetric - patcher.CorruptedMetric);
        var scores = EapIgScores.ReceiverInputs(planted.Model, planted.Pairs, planted.Metric, graph, 5, maxSteps: 320);
        var kept = scores.Select(s => Math.Abs(s) >= 0.1 * span).ToArray();
        var found = new Circuit(graph, kept, scores, "eap-ig", new Dictionary<string, string>());
        var score = CircuitScore.Of(found, planted.Edges, planted.Nodes, planted.Decoys);
        string listed = string.Join(", ", found.Edges.Select(e => $"{graph.EdgeName(e)} {scores[e] / span:0.00}"));
        Assert.True(score.EdgeF1 >= 0.9, $"{planted.Describe()}: edge F1 {score.EdgeF1:0.00} (found {listed})");
        Assert.Equal(1.0, score.NodeRecall);
        Assert.Empty(score.DecoysIncluded);
        // The circuit's two embedding edges are embed → P.v and embed → M.k.
        string and = planted.Edges.Single(e => e.StartsWith("embed->", StringComparison.Ordinal) && e.EndsWith(".k", StringComparison.Ordinal));
        Assert.True(scores[graph.FindEdge(and)!.Value] >= 0.25 * span, $"{and}: {scores[graph.FindEdge(and)!.Value] / span:0.00} of the span");
    }
}
