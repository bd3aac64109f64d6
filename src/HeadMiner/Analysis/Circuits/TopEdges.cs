namespace HeadMiner.Analysis.Circuits;

/// <summary>Circuits made of the highest-scoring edges: the n edges with the largest |score| (ties by edge order).</summary>
public static class TopEdges
{
    /// <summary>Edge indices by |score|, largest first; NaN scores last.</summary>
    public static int[] Ranking(double[] scores)
    {
        ArgumentNullException.ThrowIfNull(scores);
        return Enumerable.Range(0, scores.Length)
            .OrderByDescending(e => double.IsNaN(scores[e]) ? double.NegativeInfinity : Math.Abs(scores[e]))
            .ThenBy(e => e)
            .ToArray();
    }

    /// <summary>The circuit of the top <paramref name="count"/> edges of <paramref name="scores"/>.</summary>
    public static Circuit Select(CircuitGraph graph, double[] scores, int count, string method, IReadOnlyDictionary<string, string>? settings = null)
    {
        ArgumentNullException.ThrowIfNull(graph);
        if (scores.Length != graph.EdgeCount) throw new ArgumentException($"{scores.Length} scores for {graph.EdgeCount} edges", nameof(scores));
        if (count < 0 || count > graph.EdgeCount)
            throw new HeadMinerException($"--edges {count}: the graph has {graph.EdgeCount} edges (0–{graph.EdgeCount})");
        var kept = new bool[graph.EdgeCount];
        foreach (int e in Ranking(scores).Take(count)) kept[e] = true;
        var all = new Dictionary<string, string>(settings ?? new Dictionary<string, string>()) { ["edges"] = count.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        return new Circuit(graph, kept, scores, method, all);
    }
}
