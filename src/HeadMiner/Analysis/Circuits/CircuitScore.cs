namespace HeadMiner.Analysis.Circuits;

/// <summary>
/// A discovered circuit against a known one: edge precision / recall / F1 (edges by name), node precision / recall
/// (heads and MLPs, <see cref="CircuitGraph.Nodes"/>), and the decoy nodes it included.
/// </summary>
public sealed record CircuitScore(double EdgePrecision, double EdgeRecall, double EdgeF1, double NodePrecision, double NodeRecall, IReadOnlyList<string> DecoysIncluded)
{
    /// <summary>Precision of an empty prediction is 1 (nothing wrong claimed); recall of an empty truth is 1.</summary>
    public static CircuitScore Of(Circuit found, IReadOnlySet<string> trueEdges, IReadOnlySet<string> trueNodes, IEnumerable<string> decoys)
    {
        ArgumentNullException.ThrowIfNull(found);
        var edges = found.Edges.Select(found.Graph.EdgeName).ToHashSet(StringComparer.Ordinal);
        var nodes = found.Nodes;
        var (ep, er) = PrecisionRecall(edges, trueEdges);
        var (np, nr) = PrecisionRecall(nodes, trueNodes);
        double f1 = ep + er == 0 ? 0 : 2 * ep * er / (ep + er);
        return new CircuitScore(ep, er, f1, np, nr, decoys.Where(nodes.Contains).ToArray());
    }

    private static (double Precision, double Recall) PrecisionRecall(IReadOnlySet<string> found, IReadOnlySet<string> truth)
    {
        int hit = found.Count(truth.Contains);
        return (found.Count == 0 ? 1 : (double)hit / found.Count, truth.Count == 0 ? 1 : (double)hit / truth.Count);
    }
}
