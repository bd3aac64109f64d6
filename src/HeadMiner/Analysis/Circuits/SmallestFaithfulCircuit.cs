using System.Globalization;
using HeadMiner.Models;
using HeadMiner.Tasks;

namespace HeadMiner.Analysis.Circuits;

/// <summary>What <see cref="SmallestFaithfulCircuit.Find"/> found: the circuit, its patched faithfulness, the curve it was chosen from.</summary>
/// <param name="ReachedTarget">Whether some budget below the whole graph came within 1 − target of faithfulness 1 (else the closest one was taken).</param>
public sealed record FaithfulCircuit(Circuit Circuit, CircuitFaithfulness Faithfulness, FaithfulnessCurve Curve, bool ReachedTarget, double CleanMetric, double CorruptedMetric);

/// <summary>
/// The cheap circuit the atlas and the explorer draw: EAP-IG scores (a few interpolation steps, one forward and one
/// backward each), then the top-|score| edges at the smallest budget of <see cref="Faithfulness.DefaultBudgets"/> whose
/// faithfulness, measured by patching (every other edge corrupted, one batched evaluation for all budgets), is within
/// 1 − target of 1 (0.8 … 1.2 for the default target): the circuit alone does what the model does, neither less nor more. ACDC finds tighter circuits (docs/CIRCUITS.md) but runs one patched forward per edge; this costs
/// steps + 1 forwards plus one for each budget, so it fits an atlas of every task.
/// </summary>
public static class SmallestFaithfulCircuit
{
    public const int DefaultSteps = 5;

    public const double DefaultTarget = 0.8;

    public const string Method = "eap-ig";

    public static FaithfulCircuit Find(Transformer model, TokenizedPairs pairs, MetricKind metric, int steps = DefaultSteps, double target = DefaultTarget,
        CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(pairs);
        var graph = CircuitGraph.Create(model.Config);
        var patcher = EdgePatcher.Create(model, pairs, metric, graph);
        if (Metric.IsDegenerate(patcher.CleanMetric, patcher.CorruptedMetric))
            throw new HeadMinerException($"the clean and corrupted prompts give the same {patcher.Metric.Name} ({patcher.CleanMetric:G5} and {patcher.CorruptedMetric:G5}): there is no behaviour for a circuit to carry");
        cancel.ThrowIfCancellationRequested();
        var scores = EapIgScores.Compute(model, pairs, metric, graph, steps, cancel);
        cancel.ThrowIfCancellationRequested();
        var curve = Faithfulness.Curve(patcher, scores);
        // The whole graph is faithful by definition (1 exactly): it is the curve's end, not a candidate.
        var candidates = curve.Points.Where(p => p.Fraction < 1).ToList();
        // Faithful = close to the full model from either side: a circuit that overshoots (its patched metric beyond the
        // clean one, common when clean − corrupted is small) does not reproduce the model any better than one short of it.
        var reached = candidates.FirstOrDefault(p => Math.Abs(1 - p.Value) <= 1 - target);
        var chosen = reached ?? candidates.Aggregate((best, p) => Math.Abs(1 - p.Value) < Math.Abs(1 - best.Value) ? p : best);
        var settings = new Dictionary<string, string>
        {
            ["metric"] = patcher.Metric.Name,
            ["split_qkv"] = "true",
            ["steps"] = steps.ToString(CultureInfo.InvariantCulture),
            ["target_faithfulness"] = target.ToString(CultureInfo.InvariantCulture),
        };
        var circuit = TopEdges.Select(graph, scores, chosen.Edges, Method, settings);
        return new FaithfulCircuit(circuit, chosen, curve, reached is not null, patcher.CleanMetric, patcher.CorruptedMetric);
    }
}
