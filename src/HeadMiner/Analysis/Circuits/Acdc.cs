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

    /// <summary>Edges tried with a run whose result the sweep used (the sequential algorithm's evaluations).</summary>
    public long Tried { get; set; }

    /// <summary>Speculative evaluations thrown away because an earlier candidate of their batch was kept.</summary>
    public long Discarded { get; set; }

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
/// |m_new − m_current|. Every evaluation runs all prompt pairs in one batch from the receiver's layer (every edge
/// removed so far is read at or after it) and recomputes only what the patch changes there: the tried head's
/// attention, the layers above without the nodes already pruned, the last layer at the read position
/// (<see cref="EdgePatcher"/>, <see cref="PatchedForward"/>).
/// <para>A receiver whose node no longer writes anywhere (every edge out of it removed) cannot change the metric,
/// exactly: its readers all see its corrupted output. Its incoming edges are removed without a run (score 0), which
/// is what makes ACDC's sweep shrink as it goes.</para>
/// <para>Speculative batches (<c>candidatesPerRun</c> &gt; 1): most tries end in a removal, so the next candidates (all read in the same layer; the
/// batch doubles, up to <c>candidatesPerRun</c>, after a batch whose speculation held and halves after one that
/// failed) are evaluated together, as copies of the pair batch in one
/// forward, each with every candidate before it removed too — the set the sequential sweep evaluates if those were
/// all removed. The results are then taken in order; at the first candidate that is kept, the sets after it assumed a
/// removal that did not happen, so they are dropped and the next batch starts after it. Every result used is thus
/// the metric of exactly the set the one-at-a-time sweep evaluates (batched copies compute each copy as a run of its
/// own would, bit for bit: <c>Gemm</c> sums each element in the same order whatever the rows), so the circuit and
/// every score equal the sequential sweep's (tested edge for edge).</para>
/// </summary>
public static class Acdc
{
    /// <summary>
    /// Runs (or resumes, from <paramref name="state"/>) the sweep with threshold <paramref name="tau"/>.
    /// <paramref name="checkpoint"/> is called after each receiver with the state so far; <paramref name="progress"/>
    /// gets the fraction of receivers visited. <paramref name="candidatesPerRun"/>: the most candidates evaluated
    /// speculatively in one forward (0: as many copies as <see cref="EdgePatcher.CopiesPerRun"/> allows; 1, the
    /// default: one at a time — on the CPU a forward costs about the same per copy however many it holds, so the
    /// copies dropped after a kept edge made speculation slower in `bench circuits`, docs/CIRCUITS.md). Copies share
    /// a forward only with a <see cref="EdgePatcher.WholeLayers"/> patcher; the default one runs each set on its own.
    /// </summary>
    public static Circuit Run(EdgePatcher patcher, double tau, AcdcState? state = null, Action<AcdcState>? checkpoint = null,
        IProgress<double>? progress = null, CancellationToken cancel = default, int candidatesPerRun = 1)
    {
        ArgumentNullException.ThrowIfNull(patcher);
        if (double.IsNaN(tau)) throw new HeadMinerException("ACDC: τ is NaN");
        ArgumentOutOfRangeException.ThrowIfNegative(candidatesPerRun);
        var graph = patcher.Graph;
        state ??= AcdcState.Start(patcher, tau);
        if (state.Removed.Length != graph.EdgeCount) throw new HeadMinerException($"ACDC: the saved state has {state.Removed.Length} edges; this graph has {graph.EdgeCount}");
        bool kl = patcher.Metric.Kind == MetricKind.KlDivergence;
        int most = candidatesPerRun > 0 ? candidatesPerRun : patcher.CopiesPerRun;
        // The batch grows while its speculation holds and shrinks when it fails: a forward's cost grows with its
        // copies, so copies dropped after a kept edge are work lost (on small models about all the cost of a copy).
        int perRun = 1;
        var order = graph.Receivers.Reverse().ToArray();
        var removed = state.Removed;
        var steps = new List<Step>();
        var sets = new List<bool[]>();
        while (state.Visited < order.Length)
        {
            cancel.ThrowIfCancellationRequested();
            Plan(graph, order, state, perRun, steps, sets);
            var values = sets.Count > 0 ? patcher.Evaluate(sets) : [];
            bool held = true;
            for (int i = 0; i < steps.Count; i++)
            {
                var step = steps[i];
                if (step.Kind == StepKind.ReceiverDone)
                {
                    FinishReceiver();
                    // Stopped in the checkpoint: the state stays where it was saved (the rest of the batch is dropped).
                    if (cancel.IsCancellationRequested) break;
                    continue;
                }
                if (step.Kind == StepKind.Drop)
                {
                    removed[step.Edge] = true;
                    state.Scores[step.Edge] = 0;
                    continue;
                }
                double value = values[step.Set];
                double change = kl ? value - state.Current : Math.Abs(value - state.Current);
                state.Scores[step.Edge] = change;
                state.Tried++;
                if (change < tau)
                {
                    removed[step.Edge] = true;
                    state.Current = value;
                    continue;
                }
                // Kept: what follows assumed its removal. Only the end of its receiver, if next, still stands.
                state.Discarded += sets.Count - 1 - step.Set;
                held = step.Set == sets.Count - 1;
                if (i + 1 < steps.Count && steps[i + 1].Kind == StepKind.ReceiverDone) FinishReceiver();
                break;
            }
            perRun = held ? Math.Min(most, 2 * perRun) : Math.Max(1, perRun / 2);
        }
        void FinishReceiver()
        {
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

    private enum StepKind
    {
        Try,
        Drop,
        ReceiverDone,
    }

    private readonly record struct Step(StepKind Kind, int Edge, int Set);

    /// <summary>
    /// The next batch, from where <paramref name="state"/> stands: in sweep order, the edges to try (each with the set
    /// it is evaluated on: the edges removed so far plus every earlier step of the batch assumed removed), the edges of
    /// receivers that no longer write (removed without a run), and the ends of receivers. It stops before the
    /// (<paramref name="perRun"/> + 1)-th try and before a try read in another layer than the first (one forward).
    /// An edge already scored belongs to a receiver interrupted midway and is not tried again.
    /// </summary>
    private static void Plan(CircuitGraph graph, CircuitReceiver[] order, AcdcState state, int perRun, List<Step> steps, List<bool[]> sets)
    {
        steps.Clear();
        sets.Clear();
        var assumed = (bool[])state.Removed.Clone();
        int layer = -1;
        for (int position = state.Visited; position < order.Length; position++)
        {
            var receiver = order[position];
            var edges = graph.EdgesInto[receiver.Index].OrderByDescending(e => graph.Edges[e].Sender);
            if (!Writes(graph, receiver, assumed))
            {
                foreach (int e in edges)
                {
                    if (assumed[e] && !double.IsNaN(state.Scores[e])) continue;
                    steps.Add(new Step(StepKind.Drop, e, -1));
                    assumed[e] = true;
                }
            }
            else
            {
                foreach (int e in edges)
                {
                    if (assumed[e] || !double.IsNaN(state.Scores[e])) continue;
                    if (sets.Count == perRun || (layer >= 0 && receiver.Layer != layer)) return;
                    layer = receiver.Layer;
                    assumed[e] = true;
                    steps.Add(new Step(StepKind.Try, e, sets.Count));
                    sets.Add((bool[])assumed.Clone());
                }
            }
            steps.Add(new Step(StepKind.ReceiverDone, -1, -1));
        }
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
