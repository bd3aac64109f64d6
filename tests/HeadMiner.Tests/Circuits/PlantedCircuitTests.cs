using HeadMiner.Analysis.Circuits;
using HeadMiner.Analysis.Truth;

namespace HeadMiner.Tests.Circuits;

/// <summary>
/// ACDC and EAP-IG recover planted circuits (<see cref="PlantedCircuits"/>): every true edge and node, nothing
/// else worth an F1 below 0.9, never a decoy head; and the planted circuit itself, run alone, keeps the model's behaviour.
/// </summary>
public class PlantedCircuitTests
{
    /// <summary>ACDC τ and the EAP-IG score threshold, as fractions of |clean − corrupted| (the settings bench circuits reports as best).</summary>
    private const double Tau = 0.1, Threshold = 0.1;

    /// <summary>EAP-IG steps (bench circuits: 20 steps recover more circuits than 5).</summary>
    private const int Steps = 20;

    public static TheoryData<int, ulong> Circuits => new() { { 0, 1 }, { 0, 2 }, { 1, 1 }, { 1, 3 } };

    private static PlantedCircuit Build(int skeleton, ulong seed) =>
        PlantedCircuits.Induction(skeleton == 0 ? PlantedSkeleton.Gpt2 : PlantedSkeleton.Llama, seed);

    [Theory]
    [MemberData(nameof(Circuits))]
    public void AcdcFindsThePlantedCircuit(int skeleton, ulong seed)
    {
        var planted = Build(skeleton, seed);
        var patcher = EdgePatcher.Create(planted.Model, planted.Pairs, planted.Metric);
        double span = Math.Abs(patcher.CleanMetric - patcher.CorruptedMetric);
        Assert.True(span > 1, $"{planted.Describe()}: clean − corrupted is only {span}");
        var found = Acdc.Run(patcher, Tau * span);
        AssertRecovered(planted, found);
    }

    [Theory]
    [MemberData(nameof(Circuits))]
    public void EapIgFindsThePlantedCircuit(int skeleton, ulong seed)
    {
        var planted = Build(skeleton, seed);
        var patcher = EdgePatcher.Create(planted.Model, planted.Pairs, planted.Metric);
        double span = Math.Abs(patcher.CleanMetric - patcher.CorruptedMetric);
        var scores = EapIgScores.Compute(planted.Model, planted.Pairs, planted.Metric, patcher.Graph, Steps);
        var found = new Circuit(patcher.Graph, scores.Select(s => Math.Abs(s) >= Threshold * span).ToArray(), scores, "eap-ig", new Dictionary<string, string>());
        AssertRecovered(planted, found);
    }

    [Theory]
    [MemberData(nameof(Circuits))]
    public void ThePlantedCircuitAloneKeepsTheBehaviour(int skeleton, ulong seed)
    {
        var planted = Build(skeleton, seed);
        var patcher = EdgePatcher.Create(planted.Model, planted.Pairs, planted.Metric);
        var truth = patcher.Graph.Edges.Select(e => planted.Edges.Contains(patcher.Graph.EdgeName(e.Index))).ToArray();
        Assert.Equal(planted.Edges.Count, truth.Count(t => t)); // every true edge names an edge of the graph
        var alone = Faithfulness.Of(patcher, new Circuit(patcher.Graph, truth, new double[truth.Length], "truth", new Dictionary<string, string>()));
        Assert.InRange(alone.Value, 0.8, 1.2);
        // Each true edge is needed: corrupting it too loses a good part of the behaviour.
        var necessity = Faithfulness.Necessity(patcher, new Circuit(patcher.Graph, truth, new double[truth.Length], "truth", new Dictionary<string, string>()));
        Assert.All(necessity, n => Assert.True(n > 0.2, $"{planted.Describe()}: an edge of the planted circuit is needed only {n}"));
    }

    private static void AssertRecovered(PlantedCircuit planted, Circuit found)
    {
        var score = CircuitScore.Of(found, planted.Edges, planted.Nodes, planted.Decoys);
        string listed = string.Join(", ", found.Edges.Select(found.Graph.EdgeName));
        Assert.True(score.EdgeF1 >= 0.9, $"{planted.Describe()}: edge F1 {score.EdgeF1:0.00} (found {listed})");
        Assert.Equal(1.0, score.NodeRecall);
        Assert.Empty(score.DecoysIncluded);
    }
}
