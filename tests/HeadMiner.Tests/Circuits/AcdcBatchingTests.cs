using HeadMiner.Analysis.Circuits;
using HeadMiner.Analysis.Truth;
using HeadMiner.Tasks;
using HeadMiner.Tests.Models;

namespace HeadMiner.Tests.Circuits;

/// <summary>
/// ACDC's speculative batches (several candidates evaluated as copies in one forward, each assuming the candidates
/// before it were removed, dropped and redone when one is kept) give exactly the sequential sweep: the same kept
/// edges and the same score for every edge, on 3-layer GPT-2-, NeoX- (parallel) and Llama-shaped (grouped-query)
/// models and on a planted IOI circuit on the Llama skeleton, at several batch sizes (copies of whole layers in one
/// forward: <see cref="EdgePatcher.WholeLayers"/>). And the default sweep, which recomputes only what each patch
/// changes, keeps exactly the circuit of the naive loop (every evaluation a full forward), with the same scores
/// within float rounding, split and unsplit q/k/v.
/// </summary>
public class AcdcBatchingTests
{
    public static TheoryData<int, MetricKind, double> Sweeps => new()
    {
        { 0, MetricKind.LogitDiff, 0.03 }, { 1, MetricKind.LogitDiff, 0.03 }, { 2, MetricKind.LogitDiff, 0.03 },
        { 0, MetricKind.KlDivergence, 0.002 }, { 2, MetricKind.KlDivergence, 0.002 },
    };

    [Theory]
    [MemberData(nameof(Sweeps))]
    public void BatchedSweepEqualsTheSequentialOneEdgeForEdge(int config, MetricKind metric, double tau)
    {
        var c = config switch
        {
            0 => TinyModels.Gpt2Like(layers: 3),
            1 => TinyModels.NeoXLike(layers: 3),
            _ => TinyModels.LlamaLike(layers: 3),
        };
        using var model = TinyModels.Create(c, seed: 53);
        var pairs = EdgePatcherTests.Pairs(c, 17);
        // τ for a task metric as a fraction of clean − corrupted, so that the circuit is neither empty nor whole.
        var probe = EdgePatcher.Create(model, pairs, metric);
        double threshold = metric == MetricKind.KlDivergence ? tau : tau * Math.Abs(probe.CleanMetric - probe.CorruptedMetric);
        AssertSameSweep(model, pairs, metric, threshold, [0, 3, 7]);
    }

    [Fact]
    public void BatchedSweepEqualsTheSequentialOneOnAPlantedIoiCircuit()
    {
        // The first seed whose Llama skeleton shares k/v heads between query heads (the seed draws the group size).
        var planted = Enumerable.Range(1, 10).Select(seed => PlantedCircuits.Create("ioi", PlantedSkeleton.Llama, (ulong)seed))
            .First(p => p.Model.Config.KvHeads < p.Model.Config.Heads);
        var probe = EdgePatcher.Create(planted.Model, planted.Pairs, planted.Metric);
        double span = Math.Abs(probe.CleanMetric - probe.CorruptedMetric);
        AssertSameSweep(planted.Model, planted.Pairs, planted.Metric, 0.02 * span, [0, 5]);
    }

    [Theory]
    [MemberData(nameof(Sweeps))]
    public void DefaultSweepKeepsTheNaiveLoopsCircuit(int config, MetricKind metric, double tau)
    {
        var c = config switch
        {
            0 => TinyModels.Gpt2Like(layers: 3),
            1 => TinyModels.NeoXLike(layers: 3),
            _ => TinyModels.LlamaLike(layers: 3),
        };
        using var model = TinyModels.Create(c, seed: 53);
        var pairs = EdgePatcherTests.Pairs(c, 17);
        var probe = EdgePatcher.Create(model, pairs, metric);
        double threshold = metric == MetricKind.KlDivergence ? tau : tau * Math.Abs(probe.CleanMetric - probe.CorruptedMetric);
        AssertSameAsNaive(model, pairs, metric, threshold, probe.Graph);
        if (c.KvHeads == c.Heads) AssertSameAsNaive(model, pairs, metric, threshold, HeadMiner.Analysis.Circuits.CircuitGraph.Create(c, splitQkv: false));
    }

    [Fact]
    public void DefaultSweepKeepsTheNaiveLoopsCircuitOnPlantedCircuits()
    {
        foreach (var (kind, skeleton) in new[] { ("ioi", PlantedSkeleton.Llama), ("induction", PlantedSkeleton.Gpt2), ("successor", PlantedSkeleton.Llama) })
        {
            var planted = PlantedCircuits.Create(kind, skeleton, 2);
            var probe = EdgePatcher.Create(planted.Model, planted.Pairs, planted.Metric);
            double span = Math.Abs(probe.CleanMetric - probe.CorruptedMetric);
            AssertSameAsNaive(planted.Model, planted.Pairs, planted.Metric, 0.02 * span, probe.Graph);
        }
    }

    private static void AssertSameAsNaive(HeadMiner.Models.Transformer model, TokenizedPairs pairs, MetricKind metric, double tau, HeadMiner.Analysis.Circuits.CircuitGraph graph)
    {
        var patcher = EdgePatcher.Create(model, pairs, metric, graph);
        Assert.True(patcher.RecomputesOnlyChanges);
        var naivePatcher = new EdgePatcher(model, patcher.Metric, graph) { FullReruns = true };
        var state = AcdcState.Start(patcher, tau);
        var naiveState = AcdcState.Start(naivePatcher, tau);
        var circuit = Acdc.Run(patcher, tau, state);
        var naive = Acdc.Run(naivePatcher, tau, naiveState);
        Assert.InRange(naive.EdgeCount, 1, graph.EdgeCount - 2);
        Assert.Equal(naive.Kept, circuit.Kept);
        Assert.Equal(naiveState.Tried, state.Tried);
        for (int e = 0; e < graph.EdgeCount; e++)
        {
            if (double.IsNaN(naive.Scores[e])) Assert.True(double.IsNaN(circuit.Scores[e]), graph.EdgeName(e));
            else Assert.True(Math.Abs(naive.Scores[e] - circuit.Scores[e]) <= 2e-4 + 1e-4 * Math.Abs(naive.Scores[e]), $"{graph.EdgeName(e)}: {circuit.Scores[e]} vs naive {naive.Scores[e]}");
        }
    }

    private static void AssertSameSweep(HeadMiner.Models.Transformer model, TokenizedPairs pairs, MetricKind metric, double tau, int[] batchSizes)
    {
        var sequentialPatcher = WholeLayers(EdgePatcher.Create(model, pairs, metric));
        var sequentialState = AcdcState.Start(sequentialPatcher, tau);
        var sequential = Acdc.Run(sequentialPatcher, tau, sequentialState, candidatesPerRun: 1);
        int edges = sequentialPatcher.Graph.EdgeCount;
        Assert.InRange(sequential.EdgeCount, 2, edges - 2);
        Assert.Equal(0, sequentialState.Discarded);
        Assert.Equal(sequentialState.Tried, sequentialPatcher.Evaluations);
        long dropped = 0;
        foreach (int perRun in batchSizes)
        {
            var patcher = WholeLayers(sequentialPatcher);
            var state = AcdcState.Start(patcher, tau);
            var batched = Acdc.Run(patcher, tau, state, candidatesPerRun: perRun);
            Assert.Equal(sequential.Kept, batched.Kept);
            // Bit for bit: every used result is the metric of exactly the set the sequential sweep evaluated.
            Assert.Equal(sequential.Scores, batched.Scores);
            Assert.Equal(sequentialState.Current, state.Current);
            Assert.Equal(sequentialState.Tried, state.Tried);
            // Batching saved forwards; every evaluation was either used or dropped.
            Assert.Equal(state.Tried + state.Discarded, patcher.Evaluations);
            Assert.True(patcher.Forwards < sequentialPatcher.Forwards, $"batches of {perRun}: {patcher.Forwards} forwards, sequential {sequentialPatcher.Forwards}");
            dropped += state.Discarded;
        }
        // Some batch was cut short by a kept edge: the redo path ran.
        Assert.True(dropped > 0, "no speculation was ever dropped");
    }

    private static EdgePatcher WholeLayers(EdgePatcher patcher) => new(patcher.Model, patcher.Metric, patcher.Graph) { WholeLayers = true };
}
