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

    /// <summary>
    /// EAP-IG over receiver inputs: one receiver r at a time — a head's query, key or value input, an MLP's input, the
    /// logits — reads corrupted_r + (i/k)(clean_r − corrupted_r), i = 0 … k−1, where clean_r and corrupted_r are r's input
    /// in the two runs (the sum of all its senders' outputs), while every other receiver and the residual stream keep
    /// their clean values and everything after r is recomputed; an edge s → r scores (s_clean − s_corrupted) · the mean
    /// of ∂metric/∂(r's input) over r's k runs. Integrated gradients on each receiver's own input, so the edges into r
    /// add up (as k grows) to metric(clean) − metric(r's input corrupted), i.e. to patching every edge into r
    /// (<see cref="EdgePatcher"/>). A gate that needs two inputs at once (an AND: a key that matters only while a name is
    /// inhibited) keeps its partner clean along the path instead of turning it on together with the edge being
    /// scored, which is how the inputs and activations variants lose such edges. With k = 1 the only point is r's
    /// corrupted input with everything else clean: for the logits (nothing after them) that is EAP's gradient.
    /// <para>
    /// With <paramref name="maxSteps"/> &gt; <paramref name="steps"/>, each receiver's sum is checked against that
    /// completeness, as Sundararajan et al. advise for integrated gradients: metric(r's input corrupted) is the run at
    /// i = 0, which is computed anyway, so the check is free. A receiver whose edges miss it by more than
    /// <paramref name="tolerance"/> · |clean − corrupted| (a saturated gate whose transition falls between two points
    /// of the grid) gets the midpoints of its grid added — k doubles, the earlier points are kept — until it holds or
    /// k would pass <paramref name="maxSteps"/>.
    /// </para>
    /// <para>
    /// Runs start at the receiver's layer from the clean resid_pre (the logits' runs only unembed), all receivers of a
    /// layer and all their points batched as copies of the pair batch (at most <paramref name="maxRowsPerRun"/> token
    /// rows per run): Σ_r k_r backward passes, each over the layers from r's up.
    /// </para>
    /// </summary>
    public static double[] ReceiverInputs(Transformer model, TokenizedPairs pairs, MetricKind metric, CircuitGraph graph, int steps,
        int maxSteps = 0, double tolerance = 0.05, int maxRowsPerRun = 4096, CancellationToken cancel = default)
    {
        var (forward, endpoints, senders) = Endpoints(model, pairs, metric, graph, steps);
        if (maxSteps == 0) maxSteps = steps;
        if (maxSteps < steps) throw new HeadMinerException($"EAP-IG over receiver inputs: at most {maxSteps} steps is fewer than the {steps} to start with");
        if (!(tolerance > 0)) throw new HeadMinerException($"EAP-IG over receiver inputs: the completeness tolerance must be positive, not {tolerance}");
        var (clean, corrupted) = (endpoints.Clean, endpoints.Corrupted);
        var cleanLogits = clean.Logits.Value;
        double cleanValue = MetricGradient.Compute(metric, pairs, cleanLogits, cleanLogits).Value;
        double span = Math.Abs(cleanValue - MetricGradient.Compute(metric, pairs, corrupted.Logits.Value, cleanLogits).Value);
        var c = model.Config;
        int n = pairs.Count, T = pairs.Length, rowsPerCopy = n * T, size = rowsPerCopy * c.DModel;
        int copiesPerRun = Math.Max(1, maxRowsPerRun / rowsPerCopy);
        var ids = pairs.CleanBatch().Ids;
        var scores = new double[graph.EdgeCount];

        // One receiver's path: its input in the two runs, the running sum of its gradients, its points so far, metric(α = 0).
        var paths = new List<ReceiverPath>();
        for (int layer = 0; layer <= c.Layers; layer++)
        {
            paths.Clear();
            foreach (var r in graph.Receivers.Where(r => r.Layer == layer))
            {
                var (from, to) = r.Kind switch
                {
                    ReceiverKind.Logits => (corrupted.ResidFinal, clean.ResidFinal),
                    ReceiverKind.Mlp => (corrupted.MlpInput[layer], clean.MlpInput[layer]),
                    _ => (corrupted.ResidPre[layer], clean.ResidPre[layer]),
                };
                paths.Add(new ReceiverPath(r, from.Value.Contiguous().ToArray(), to.Value.Contiguous().ToArray()));
            }
            var jobs = paths.SelectMany(p => Enumerable.Range(0, steps).Select(i => (Path: p, Alpha: (double)i / steps))).ToList();
            foreach (var p in paths) p.Steps = steps;
            while (jobs.Count > 0)
            {
                for (int first = 0; first < jobs.Count; first += copiesPerRun)
                {
                    cancel.ThrowIfCancellationRequested();
                    RunPoints(forward, pairs, metric, cleanLogits, ids, layer, clean, jobs.Skip(first).Take(copiesPerRun).ToList(), size);
                }
                // Receivers whose edges miss completeness get the midpoints of their grid.
                var refine = paths.Where(p => p.Steps * 2 <= maxSteps && Math.Abs(p.Integral() - (cleanValue - p.Start)) > tolerance * span).ToList();
                jobs = refine.SelectMany(p => Enumerable.Range(0, p.Steps).Select(i => (Path: p, Alpha: (2.0 * i + 1) / (2.0 * p.Steps)))).ToList();
                foreach (var p in refine) p.Steps *= 2;
            }
            foreach (var p in paths)
                foreach (int e in graph.EdgesInto[p.Receiver.Index])
                {
                    var delta = senders[graph.Senders[graph.Edges[e].Sender].Name];
                    double dot = 0;
                    for (int j = 0; j < delta.Length; j++) dot += delta[j] * p.Sum[j];
                    scores[e] = dot / p.Steps;
                }
        }
        return scores;
    }

    /// <summary>A receiver's interpolation in <see cref="ReceiverInputs"/>.</summary>
    private sealed class ReceiverPath(CircuitReceiver receiver, float[] from, float[] to)
    {
        public CircuitReceiver Receiver { get; } = receiver;
        public float[] From { get; } = from;
        public float[] To { get; } = to;
        public double[] Sum { get; } = new double[from.Length];
        public int Steps { get; set; }

        /// <summary>The metric with the receiver's input corrupted (the point α = 0).</summary>
        public double Start { get; set; } = double.NaN;

        /// <summary>The sum of its edges' scores: the mean gradient · (clean − corrupted input).</summary>
        public double Integral()
        {
            double dot = 0;
            for (int j = 0; j < Sum.Length; j++) dot += Sum[j] * (To[j] - From[j]);
            return dot / Steps;
        }

        public DifferentiableTransformer.ReceiverSite Site => Receiver.Kind switch
        {
            ReceiverKind.Query => DifferentiableTransformer.ReceiverSite.Query,
            ReceiverKind.Key => DifferentiableTransformer.ReceiverSite.Key,
            ReceiverKind.Value => DifferentiableTransformer.ReceiverSite.Value,
            ReceiverKind.HeadInputs => DifferentiableTransformer.ReceiverSite.HeadInputs,
            _ => DifferentiableTransformer.ReceiverSite.Mlp,
        };

        public float[] Point(double alpha)
        {
            var point = new float[From.Length];
            float a = (float)alpha;
            for (int j = 0; j < point.Length; j++) point[j] = From[j] + a * (To[j] - From[j]);
            return point;
        }
    }

    /// <summary>
    /// One batched run of interpolation points of receivers of one layer (the layer count: the logits), each a copy of
    /// the pair batch; each copy's gradient with respect to its receiver's input is added to that receiver's sum.
    /// </summary>
    private static void RunPoints(DifferentiableTransformer forward, TokenizedPairs pairs, MetricKind metric, Tensors.Tensor cleanLogits, int[] ids,
        int layer, DifferentiableRun clean, List<(ReceiverPath Path, double Alpha)> jobs, int size)
    {
        int copies = jobs.Count, n = pairs.Count;
        var batchIds = new int[ids.Length * copies];
        for (int j = 0; j < copies; j++) ids.CopyTo(batchIds, j * ids.Length);
        var residual = new float[size * copies];
        List<DifferentiableTransformer.ReceiverInput>? inputs = null;
        if (layer == forward.Config.Layers)
        {
            // The logits read the final residual itself: the runs start there and only unembed.
            for (int j = 0; j < copies; j++) jobs[j].Path.Point(jobs[j].Alpha).CopyTo(residual, j * size);
        }
        else
        {
            var residPre = clean.ResidPre[layer].Value.Contiguous().Span;
            for (int j = 0; j < copies; j++) residPre.CopyTo(residual.AsSpan(j * size, size));
            inputs = jobs.Select(job => new DifferentiableTransformer.ReceiverInput(job.Path.Site, job.Path.Receiver.Head, job.Path.Point(job.Alpha))).ToList();
        }
        var run = forward.Run(new TokenBatch(batchIds, n * copies, pairs.Length), withGradient: true, resume: new DifferentiableTransformer.Resume(layer, residual, inputs));
        // The metric is a mean over each copy's pairs: each copy's logits get that copy's gradient.
        var logits = run.Logits.Value.Contiguous();
        int v = logits.Dim(-1);
        var gradient = Tensors.Tensor.Zeros(n * copies, v);
        for (int j = 0; j < copies; j++)
        {
            var (value, g) = MetricGradient.Compute(metric, pairs, Tensors.Tensor.FromSpan(logits.Span.Slice(j * n * v, n * v), n, v), cleanLogits);
            g.Span.CopyTo(gradient.Span.Slice(j * n * v, n * v));
            if (jobs[j].Alpha == 0) jobs[j].Path.Start = value;
        }
        DifferentiableTransformer.Backward(run, gradient);
        for (int j = 0; j < copies; j++)
        {
            var g = inputs is null ? run.ResidFinal.Gradient!.Span.Slice(j * size, size) : forward.ReceiverInputGradient(run, j);
            var sum = jobs[j].Path.Sum;
            for (int i = 0; i < sum.Length; i++) sum[i] += g[i];
        }
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
