using HeadMiner.Tasks;

namespace HeadMiner.Analysis.Circuits;

/// <summary>A circuit's behaviour run alone: the metric with every edge outside it corrupted, and that normalised.</summary>
/// <param name="Metric">The metric with only the circuit's edges carrying clean information.</param>
/// <param name="Value">(metric − corrupted) / (clean − corrupted): 1 = the full model's behaviour, 0 = the corrupted run's.</param>
public sealed record CircuitFaithfulness(int Edges, double Fraction, double Metric, double Value);

/// <summary>
/// Faithfulness at edge budgets (MIB-style): the top-scoring edges at each fraction of the graph, each set run alone.
/// <see cref="Cpr"/> is the area under faithfulness over the budget axis and <see cref="Cmd"/> the area under
/// |1 − faithfulness|, each divided by the axis' length (a mean over budgets, trapezoid rule): CPR high and CMD low
/// are good.
/// </summary>
public sealed record FaithfulnessCurve(IReadOnlyList<CircuitFaithfulness> Points, double Cpr, double Cmd);

/// <summary>
/// Faithfulness measured by patching, never estimated: the circuit's edges keep what the patched run computes, every
/// other edge carries the corrupted run's sender output (<see cref="EdgePatcher"/>).
/// </summary>
public static class Faithfulness
{
    /// <summary>0.1 % … 50 % of the edges, and the whole graph.</summary>
    public static IReadOnlyList<double> DefaultBudgets { get; } = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0];

    public static CircuitFaithfulness Of(EdgePatcher patcher, Circuit circuit)
    {
        ArgumentNullException.ThrowIfNull(patcher);
        ArgumentNullException.ThrowIfNull(circuit);
        double metric = patcher.Evaluate(circuit.Outside);
        return new CircuitFaithfulness(circuit.EdgeCount, (double)circuit.EdgeCount / circuit.Graph.EdgeCount, metric,
            Tasks.Metric.Normalize(metric, patcher.CleanMetric, patcher.CorruptedMetric));
    }

    /// <summary>The top edges of <paramref name="scores"/> (by |score|) at each budget, run alone.</summary>
    public static FaithfulnessCurve Curve(EdgePatcher patcher, double[] scores, IReadOnlyList<double>? budgets = null)
    {
        ArgumentNullException.ThrowIfNull(patcher);
        budgets ??= DefaultBudgets;
        if (budgets.Count == 0 || budgets.Any(b => !(b > 0 && b <= 1)))
            throw new HeadMinerException("faithfulness budgets must be fractions of the edges in (0, 1]");
        var graph = patcher.Graph;
        var ranking = TopEdges.Ranking(scores);
        var sorted = budgets.Order().ToArray();
        var counts = sorted.Select(b => Math.Max(1, (int)Math.Round(b * graph.EdgeCount))).ToArray();
        var sets = counts.Select(n =>
        {
            var outside = Enumerable.Repeat(true, graph.EdgeCount).ToArray();
            foreach (int e in ranking.Take(n)) outside[e] = false;
            return outside;
        }).ToList();
        var metrics = patcher.Evaluate(sets);
        var points = sorted.Select((b, i) => new CircuitFaithfulness(counts[i], b, metrics[i], Metric.Normalize(metrics[i], patcher.CleanMetric, patcher.CorruptedMetric))).ToArray();
        return new FaithfulnessCurve(points, Area(points, p => p.Value), Area(points, p => Math.Abs(1 - p.Value)));
    }

    /// <summary>
    /// Per edge of the circuit: how much its faithfulness drops when that edge is corrupted too (the edge's necessity
    /// inside the circuit; near 0 = the circuit does not need it).
    /// </summary>
    public static double[] Necessity(EdgePatcher patcher, Circuit circuit)
    {
        ArgumentNullException.ThrowIfNull(patcher);
        ArgumentNullException.ThrowIfNull(circuit);
        var edges = circuit.Edges;
        var baseline = Of(patcher, circuit).Value;
        var sets = edges.Select(e =>
        {
            var outside = circuit.Outside;
            outside[e] = true;
            return outside;
        }).ToList();
        var metrics = patcher.Evaluate(sets);
        return metrics.Select(m => baseline - Metric.Normalize(m, patcher.CleanMetric, patcher.CorruptedMetric)).ToArray();
    }

    private static double Area(IReadOnlyList<CircuitFaithfulness> points, Func<CircuitFaithfulness, double> value)
    {
        if (points.Count == 1) return value(points[0]);
        double area = 0;
        for (int i = 1; i < points.Count; i++)
            area += (points[i].Fraction - points[i - 1].Fraction) * (value(points[i]) + value(points[i - 1])) / 2;
        return area / (points[^1].Fraction - points[0].Fraction);
    }
}
