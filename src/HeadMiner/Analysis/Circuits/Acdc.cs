using HeadMiner.Tasks;

namespace HeadMiner.Analysis.Circuits;

/// <summary>
/// Where an ACDC sweep stands (enough to resume it): the edges removed so far, the next receiver to visit (a position
/// in the reverse topological order), the metric with the removed edges patched, and every visited edge's score.
/// </summary>
public sealed class AcdcState
{
    public required bool[] Removed { get; init; }

    /// <summary>Receivers visited so far (in reverse topological order: the logits first).</summary>
    public int Visited { get; set; }

    public double Current { get; set; }

    /// <summary>Per edge, the change in the metric its removal caused when tried (NaN before; 0 when its receiver no longer mattered).</summary>
    public required double[] Scores { get; init; }

    public double Tau { get; init; }

    public static AcdcState Start(EdgePatcher patcher, double tau) => new()
    {
        Removed = new bool[patcher.Graph.EdgeCount],
        Scores = Enumerable.Repeat(double.NaN, patcher.Graph.EdgeCount).ToArray(),
        Current = patcher.CleanMetric,
        Tau = tau,
    };
}

/// <summary>
/// ACDC (Conmy et al. 2023): visit the receivers in reverse topological order (the logits first, then layer by layer
/// down, each layer's MLP before its heads' inputs) and, for each edge into the receiver (latest sender first),
/// patch it on top of the edges removed so far; keep it removed when the metric moves by less than τ. With KL
/// divergence (0 = clean behaviour) the move is the increase KL_new − KL_current; with a task metric it is
/// |m_new − m_current|. Every evaluation runs all prompt pairs in one batch and resumes at the receiver's layer
/// (every edge removed so far is read at or after it: <see cref="EdgePatcher"/>).
/// <para>A receiver whose node no longer writes anywhere (every edge out of it removed) cannot change the metric,
/// exactly: its readers all see its corrupted output. Its incoming edges are removed without a run (score 0), which
/// is what makes ACDC's sweep shrink as it goes.</para>
/// </summary>
public static class Acdc
{
    /// <summary>
    /// Runs (or resumes, from <paramref name="state"/>) the sweep with threshold <paramref name="tau"/>.
    /// <paramref name="checkpoint"/> is called after each receiver with the state so far; <paramref name="progress"/>
    /// gets the fraction of receivers visited.
    /// </summary>
    public static Circuit Run(EdgePatcher patcher, double tau, AcdcState? state = null, Action<AcdcState>? checkpoint = null,
        IProgress<double>? progress = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(patcher);
        if (double.IsNaN(tau)) throw new HeadMinerException("ACDC: τ is NaN");
        var graph = patcher.Graph;
        state ??= AcdcState.Start(patcher, tau);
        if (state.Removed.Length != graph.EdgeCount) throw new HeadMinerException($"ACDC: the saved state has {state.Removed.Length} edges; this graph has {graph.EdgeCount}");
        bool kl = patcher.Metric.Kind == MetricKind.KlDivergence;
        var order = graph.Receivers.Reverse().ToArray();
        var removed = state.Removed;
        while (state.Visited < order.Length)
        {
            cancel.ThrowIfCancellationRequested();
            var receiver = order[state.Visited];
            var edges = graph.EdgesInto[receiver.Index].OrderByDescending(e => graph.Edges[e].Sender).ToArray();
            if (!Writes(graph, receiver, removed))
            {
                foreach (int e in edges)
                {
                    removed[e] = true;
                    state.Scores[e] = 0;
                }
            }
            else
            {
                foreach (int e in edges)
                {
                    if (removed[e]) continue;
                    cancel.ThrowIfCancellationRequested();
                    removed[e] = true;
                    double value = patcher.Evaluate(removed);
                    double change = kl ? value - state.Current : Math.Abs(value - state.Current);
                    state.Scores[e] = change;
                    if (change < tau) state.Current = value;
                    else removed[e] = false;
                }
            }
            state.Visited++;
            progress?.Report((double)state.Visited / order.Length);
            checkpoint?.Invoke(state);
        }
        var settings = new Dictionary<string, string>
        {
            ["tau"] = tau.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
            ["metric"] = patcher.Metric.Name,
            ["split_qkv"] = graph.SplitQkv ? "true" : "false",
        };
        return new Circuit(graph, removed.Select(r => !r).ToArray(), state.Scores, "acdc", settings);
    }

    /// <summary>Whether the node <paramref name="receiver"/> belongs to still has an edge out of it (the logits always count).</summary>
    internal static bool Writes(CircuitGraph graph, CircuitReceiver receiver, bool[] removed)
    {
        bool Alive(int sender) => graph.EdgesOutOf[sender].Any(e => !removed[e]);
        return receiver.Kind switch
        {
            ReceiverKind.Logits => true,
            ReceiverKind.Mlp => Alive(graph.MlpSender(receiver.Layer)),
            _ => receiver.FedHeads.Any(h => Alive(graph.HeadSender(receiver.Layer, h))),
        };
    }
}
