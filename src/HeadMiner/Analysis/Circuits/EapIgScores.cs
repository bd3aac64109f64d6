using HeadMiner.Analysis.Attribution;
using HeadMiner.Models;
using HeadMiner.Tasks;

namespace HeadMiner.Analysis.Circuits;

/// <summary>
/// EAP with integrated gradients (Hanna et al. 2024) on a <see cref="CircuitGraph"/>: an edge's score is
/// (s_clean − s_corrupted) · (1/k) Σ_i ∂metric/∂r at the input embedding e_corrupted + (i/k)(e_clean − e_corrupted),
/// i = 0 … k−1. The gradient with respect to each receiver's own input is taken as in
/// <see cref="EdgeAttributionPatching"/> (one backward per step); with k = 1 the only point is the corrupted input,
/// which is EAP. Interpolating the input embeddings (not each activation) is the paper's "inputs" variant.
/// </summary>
public static class EapIgScores
{
    public static double[] Compute(Transformer model, TokenizedPairs pairs, MetricKind metric, CircuitGraph graph, int steps, CancellationToken cancel = default)
    {
        var (forward, endpoints, senders) = Endpoints(model, pairs, metric, graph, steps);
        var (clean, corrupted) = (endpoints.Clean, endpoints.Corrupted);
        var cleanLogits = clean.Logits.Value;

        var cleanEmbed = clean.Embed.Value.Contiguous().ToArray();
        var corruptedEmbed = corrupted.Embed.Value.Contiguous().ToArray();
        var point = new float[cleanEmbed.Length];
        Dictionary<string, double[]>? gradients = null;
        for (int i = 0; i < steps; i++)
        {
            cancel.ThrowIfCancellationRequested();
            float alpha = (float)i / steps;
            for (int j = 0; j < point.Length; j++) point[j] = corruptedEmbed[j] + alpha * (cleanEmbed[j] - corruptedEmbed[j]);
            var run = forward.Run(pairs.CorruptedBatch(), withGradient: true, embedding: point);
            AddReceiverGradients(graph, pairs, metric, endpoints, run, cleanLogits, ref gradients);
        }

        var scores = new double[graph.EdgeCount];
        ScoreEdges(graph, graph.Edges, senders, gradients!, steps, scores);
        return scores;
    }

    /// <summary>
    /// EAP-IG over activations (Hanna et al.'s "activations" variant, as MIB runs it): one node at a time — the
    /// embedding, a layer's attention output, a layer's MLP output — has its output set to corrupted + (i/k)(clean −
    /// corrupted), i = 1 … k, on the clean prompts with everything downstream recomputed; an edge s → r scores
    /// (s_clean − s_corrupted) · the mean of ∂metric/∂r over the k runs that interpolate s's own node. Unlike the
    /// inputs variant, each sender's change is followed from where it happens, so an edge deep in a chain of saturated
    /// gates is scored along a path on which its own sender moves (the inputs path moves every node at once, and a
    /// later gate is often saturated wherever an earlier one is in transition). The reference implementation averages
    /// each edge over the runs of every node; here only the sender's own runs count, so a sender's edges add up, as
    /// integrated gradients do, to the change its node alone makes. (1 + 2·layers)·k backward passes.
    /// </summary>
    public static double[] Activations(Transformer model, TokenizedPairs pairs, MetricKind metric, CircuitGraph graph, int steps, CancellationToken cancel = default)
    {
        var (forward, endpoints, senders) = Endpoints(model, pairs, metric, graph, steps);
        var (clean, corrupted) = (endpoints.Clean, endpoints.Corrupted);
        var cleanLogits = clean.Logits.Value;
        var scores = new double[graph.EdgeCount];

        // Nodes: −1 the embedding, then (layer, attention) and (layer, MLP).
        var nodes = new List<(int Layer, bool Mlp)> { (-1, false) };
        for (int l = 0; l < model.Config.Layers; l++)
        {
            nodes.Add((l, false));
            nodes.Add((l, true));
        }
        foreach (var (layer, mlp) in nodes)
        {
            var edges = graph.Edges.Where(e => graph.Senders[e.Sender] is var s
                && (layer < 0 ? s.Kind == SenderKind.Input : s.Layer == layer && s.Kind == (mlp ? SenderKind.Mlp : SenderKind.Head))).ToList();
            if (edges.Count == 0) continue;
            float[] Output(DifferentiableRun run) => (layer < 0 ? run.Embed : mlp ? run.MlpOut[layer] : run.AttnOut[layer]).Value.Contiguous().ToArray();
            var from = Output(corrupted);
            var to = Output(clean);
            var point = new float[from.Length];
            Dictionary<string, double[]>? gradients = null;
            for (int i = 1; i <= steps; i++)
            {
                cancel.ThrowIfCancellationRequested();
                float alpha = (float)i / steps;
                for (int j = 0; j < point.Length; j++) point[j] = from[j] + alpha * (to[j] - from[j]);
                var run = layer < 0
                    ? forward.Run(pairs.CleanBatch(), withGradient: true, embedding: point)
                    : forward.Run(pairs.CleanBatch(), withGradient: true, replace: new DifferentiableTransformer.LayerOutput(layer, mlp, (float[])point.Clone()));
                AddReceiverGradients(graph, pairs, metric, endpoints, run, cleanLogits, ref gradients);
            }
            ScoreEdges(graph, edges, senders, gradients!, steps, scores);
        }
        return scores;
    }

    private static string Name(CircuitGraph graph, string receiver) => graph.SplitQkv ? receiver : EapScores.UnsplitName(receiver);

    /// <summary>
    /// One interpolation point: the metric's gradient at <paramref name="run"/>, back-propagated, added to the running
    /// sum of each receiver's input gradient (one sum per receiver name: with q/k/v unsplit, a head's three inputs share one).
    /// </summary>
    private static void AddReceiverGradients(CircuitGraph graph, TokenizedPairs pairs, MetricKind metric, AttributionRuns endpoints,
        DifferentiableRun run, Tensors.Tensor cleanLogits, ref Dictionary<string, double[]>? gradients)
    {
        var (_, gradient) = MetricGradient.Compute(metric, pairs, run.Logits.Value, cleanLogits);
        DifferentiableTransformer.Backward(run, gradient);
        var receivers = EdgeAttributionPatching.Receivers(endpoints with { Corrupted = run });
        gradients ??= [];
        foreach (var r in receivers)
        {
            string name = Name(graph, r.Name);
            if (!gradients.TryGetValue(name, out var sum)) gradients[name] = sum = new double[r.Gradient.Length];
            for (int j = 0; j < sum.Length; j++) sum[j] += r.Gradient[j];
        }
    }

    /// <summary>Each edge's score: its sender's clean − corrupted output · the mean gradient at its receiver.</summary>
    private static void ScoreEdges(CircuitGraph graph, IEnumerable<CircuitEdge> edges, Dictionary<string, float[]> senders,
        Dictionary<string, double[]> gradients, int steps, double[] scores)
    {
        foreach (var edge in edges)
        {
            var delta = senders[graph.Senders[edge.Sender].Name];
            var g = gradients[graph.Receivers[edge.Receiver].Name];
            double dot = 0;
            for (int j = 0; j < delta.Length; j++) dot += delta[j] * g[j];
            scores[edge.Index] = dot / steps;
        }
    }

    /// <summary>The clean and corrupted runs both variants start from, and each sender's clean − corrupted output.</summary>
    private static (DifferentiableTransformer Forward, AttributionRuns Endpoints, Dictionary<string, float[]> Senders) Endpoints(
        Transformer model, TokenizedPairs pairs, MetricKind metric, CircuitGraph graph, int steps)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(pairs);
        ArgumentNullException.ThrowIfNull(graph);
        if (steps < 1) throw new HeadMinerException($"EAP-IG needs at least 1 interpolation step, not {steps}");
        var forward = new DifferentiableTransformer(model);
        var clean = forward.Run(pairs.CleanBatch(), withGradient: false);
        var corrupted = forward.Run(pairs.CorruptedBatch(), withGradient: false);
        var endpoints = new AttributionRuns(forward, clean, corrupted, metric.ToString(), double.NaN, double.NaN, model.Processing.ToString());
        return (forward, endpoints, EdgeAttributionPatching.Senders(endpoints).ToDictionary(s => s.Name, s => s.Delta));
    }
}
