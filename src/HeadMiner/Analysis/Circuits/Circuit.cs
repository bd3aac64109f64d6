namespace HeadMiner.Analysis.Circuits;

/// <summary>
/// A discovered circuit: which edges of <see cref="Graph"/> it keeps, the score each edge got from the method (ACDC:
/// the metric change its removal caused; EAP / EAP-IG: the attribution estimate; NaN where none was computed), the
/// method's name and settings.
/// </summary>
public sealed record Circuit(CircuitGraph Graph, bool[] Kept, double[] Scores, string Method, IReadOnlyDictionary<string, string> Settings)
{
    /// <summary>Indices of the kept edges.</summary>
    public int[] Edges => Enumerable.Range(0, Kept.Length).Where(e => Kept[e]).ToArray();

    public int EdgeCount => Kept.Count(k => k);

    /// <summary>The edges to corrupt when the circuit alone is run: every edge it does not keep.</summary>
    public bool[] Outside => Kept.Select(k => !k).ToArray();

    /// <summary>Head and MLP nodes whose output the circuit uses (<see cref="CircuitGraph.Nodes"/>).</summary>
    public IReadOnlySet<string> Nodes => Graph.Nodes(Edges);
}
