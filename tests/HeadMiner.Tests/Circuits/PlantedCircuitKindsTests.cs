using HeadMiner.Analysis.Circuits;
using HeadMiner.Analysis.Truth;
using Xunit.Abstractions;

namespace HeadMiner.Tests.Circuits;

/// <summary>
/// The IOI-like and successor circuits (<see cref="PlantedCircuits.Ioi"/>, <see cref="PlantedCircuits.Successor"/>):
/// their ground-truth edges are exactly the edges that carry the clean → corrupted change (every edge of the graph
/// patched alone: each true edge moves the metric by a good part of clean − corrupted, every other edge by less than
/// a small bound), and ACDC recovers them without their decoys.
/// </summary>
public class PlantedCircuitKindsTests(ITestOutputHelper output)
{
    /// <summary>A true edge patched alone moves the metric by at least this fraction of |clean − corrupted|.</summary>
    private const double Needed = 0.25;

    /// <summary>Any other edge patched alone moves it by less than this fraction (norm side effects, noise heads).</summary>
    private const double Bound = 0.05;

    public static TheoryData<string, int, ulong> Exhaustive => new()
    {
        { "ioi", 0, 1 }, { "ioi", 1, 1 }, { "ioi", 1, 3 },
        { "successor", 0, 1 }, { "successor", 0, 2 }, { "successor", 1, 3 },
    };

    public static TheoryData<string, int, ulong> Recovered => new()
    {
        { "ioi", 0, 4 }, { "ioi", 1, 2 }, { "successor", 0, 3 }, { "successor", 1, 2 },
    };

    private static PlantedCircuit Build(string kind, int skeleton, ulong seed) =>
        PlantedCircuits.Create(kind, skeleton == 0 ? PlantedSkeleton.Gpt2 : PlantedSkeleton.Llama, seed);

    [Theory]
    [MemberData(nameof(Exhaustive))]
    public void TheTrueEdgesAreExactlyTheOnesThatCarryTheChange(string kind, int skeleton, ulong seed)
    {
        var planted = Build(kind, skeleton, seed);
        var patcher = EdgePatcher.Create(planted.Model, planted.Pairs, planted.Metric);
        var graph = patcher.Graph;
        double span = patcher.CleanMetric - patcher.CorruptedMetric;
        Assert.True(span > 0.5, $"{planted.Describe()}: clean − corrupted is only {span}");
        Assert.Equal(planted.Edges.Count, graph.Edges.Count(e => planted.Edges.Contains(graph.EdgeName(e.Index))));

        var sets = graph.Edges.Select(e =>
        {
            var patched = new bool[graph.EdgeCount];
            patched[e.Index] = true;
            return patched;
        }).ToList();
        var metrics = patcher.Evaluate(sets);
        var effects = metrics.Select(m => Math.Abs(m - patcher.CleanMetric) / span).ToArray();
        var ranked = Enumerable.Range(0, effects.Length).OrderByDescending(e => effects[e]).Take(planted.Edges.Count + 4);
        output.WriteLine($"{planted.Describe()}; clean {patcher.CleanMetric:0.000}, corrupted {patcher.CorruptedMetric:0.000}");
        foreach (int e in ranked) output.WriteLine($"  {graph.EdgeName(e),-24} {effects[e]:0.0000}{(planted.Edges.Contains(graph.EdgeName(e)) ? "  (true)" : "")}");

        foreach (var edge in graph.Edges)
        {
            string name = graph.EdgeName(edge.Index);
            if (planted.Edges.Contains(name))
                Assert.True(effects[edge.Index] >= Needed, $"{planted.Id}: true edge {name} moves the metric by only {effects[edge.Index]:0.000} of the span");
            else
                Assert.True(effects[edge.Index] < Bound, $"{planted.Id}: edge {name} is not in the circuit but moves the metric by {effects[edge.Index]:0.000} of the span");
        }

        // The true edges alone keep the behaviour.
        var truth = graph.Edges.Select(e => planted.Edges.Contains(graph.EdgeName(e.Index))).ToArray();
        var alone = Faithfulness.Of(patcher, new Circuit(graph, truth, new double[truth.Length], "truth", new Dictionary<string, string>()));
        Assert.InRange(alone.Value, 0.9, 1.1);
    }

    [Theory]
    [MemberData(nameof(Recovered))]
    public void AcdcRecoversTheCircuit(string kind, int skeleton, ulong seed)
    {
        var planted = Build(kind, skeleton, seed);
        var patcher = EdgePatcher.Create(planted.Model, planted.Pairs, planted.Metric);
        double span = Math.Abs(patcher.CleanMetric - patcher.CorruptedMetric);
        var found = Acdc.Run(patcher, 0.1 * span);
        var score = CircuitScore.Of(found, planted.Edges, planted.Nodes, planted.Decoys);
        string listed = string.Join(", ", found.Edges.Select(found.Graph.EdgeName));
        Assert.True(score.EdgeF1 >= 0.9, $"{planted.Describe()}: edge F1 {score.EdgeF1:0.00} (found {listed})");
        Assert.Equal(1.0, score.NodeRecall);
        Assert.Empty(score.DecoysIncluded);
    }
}
