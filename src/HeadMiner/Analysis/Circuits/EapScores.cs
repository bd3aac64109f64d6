using HeadMiner.Analysis.Attribution;
using HeadMiner.Models;
using HeadMiner.Tasks;

namespace HeadMiner.Analysis.Circuits;

/// <summary>
/// Edge attribution patching (<see cref="EdgeAttributionPatching"/>, Syed et al.) as scores on a <see cref="CircuitGraph"/>:
/// its edges carry the graph's names, so each graph edge takes its estimate; an unsplit head receiver takes the sum of
/// its q, k and v edges (the three inputs are copies of one residual stream, so their first-order effects add).
/// </summary>
public static class EapScores
{
    public static double[] Compute(Transformer model, TokenizedPairs pairs, MetricKind metric, CircuitGraph graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        var result = EdgeAttributionPatching.Run(model, pairs, metric);
        var scores = new double[graph.EdgeCount];
        foreach (var edge in result.Edges)
        {
            string receiver = graph.SplitQkv ? edge.Receiver : UnsplitName(edge.Receiver);
            var index = graph.FindEdge($"{edge.Sender}->{receiver}")
                ?? throw new InvalidOperationException($"edge {edge.Sender}->{edge.Receiver} of edge attribution patching is not in the graph");
            scores[index] += edge.Score;
        }
        return scores;
    }

    /// <summary>"a1.h2.q" → "a1.h2" (the receiver of all three inputs of a head).</summary>
    internal static string UnsplitName(string receiver) =>
        receiver.EndsWith(".q", StringComparison.Ordinal) || receiver.EndsWith(".k", StringComparison.Ordinal) || receiver.EndsWith(".v", StringComparison.Ordinal)
            ? receiver[..^2]
            : receiver;
}
