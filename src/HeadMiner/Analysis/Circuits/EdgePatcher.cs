using HeadMiner.Hooks;
using HeadMiner.Models;
using HeadMiner.Tasks;
using HeadMiner.Tensors;
using HeadMiner.Tensors.Kernels;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace HeadMiner.Analysis.Circuits;

/// <summary>
/// Edge patching on a <see cref="CircuitGraph"/>: the clean input is run, and each patched edge s → r delivers to r
/// the sender's output from the corrupted run instead of its output in this run. Because r reads the sum of its
/// senders' outputs, r's input becomes (its input in this run) − Σ over patched edges s → r of
/// (s's output in this run − s's output in the corrupted run); kept edges carry what their senders compute in the
/// patched run itself (ACDC's and MIB's convention: a circuit's inside is recomputed, its outside is corrupted).
/// <para>
/// Built once per (model, prompt pairs, metric): the clean run's resid_pre of every layer, both runs' z and MLP
/// outputs, and both embeddings are cached. A set of patched edges changes nothing before the earliest layer one of
/// them is read in, so its run resumes from the cached clean resid_pre of that layer (the logits are read in the
/// last layer's resid_post); a sender below that layer has its clean output there, whose difference from the
/// corrupted one is cached once. A set that patches only edges into the logits runs no block at all: the cached
/// clean final residual minus those senders' cached differences goes straight to the final norm and the
/// unembedding. Several sets with the same first layer run as copies of the pair batch in one forward. With a metric
/// read at the last position, runs skip the positions before the first one where any pair's prompts differ: there
/// every run equals the clean one (causality), so only the suffix runs, reading the prefix's cached clean keys and
/// values. A receiver's q/k/v inputs are its own copies of resid_pre (the split-input hook sites), so patching one
/// head's input leaves its layer-mates alone.
/// </para>
/// <para>
/// By default, for metrics read at the last position, a set runs through <see cref="PatchedForward"/>, which also
/// skips work inside layers (only the patched heads of the first layer, no pruned node above it, the last layer at
/// the read rows); <see cref="WholeLayers"/> runs whole layers through the model's forward (batched copies), and
/// <see cref="FullReruns"/> runs every set from the embedding (the naive loop).
/// </para>
/// </summary>
public sealed class EdgePatcher
{
    private readonly Transformer _model;
    // Rows [pairs × tokens] of the runs; cut to the shared suffix by UseSuffix before the first patched run.
    private float[][] _cleanResidPre;
    private float[] _cleanFinal;
    private float[][] _corruptedZ;
    private float[][] _corruptedMlpOut;
    private float[] _embedDelta;
    private float[][] _cleanZ;
    private float[][] _cleanMlpOut;
    private int[] _ids;
    private int _rowsPerCopy;

    // Positions before every pair's first clean/corrupted difference (0: none skipped), their keys and values.
    private readonly int _prefix;
    private readonly float[][]? _prefixKeys;
    private readonly float[][]? _prefixValues;
    private bool _suffixOnly;
    private readonly float[]?[] _cleanDelta;
    private readonly Tensor[,] _wo;
    private readonly bool _padded;
    private PatchedForward? _patchedForward;

    public EdgePatcher(Transformer model, Metric metric, CircuitGraph graph)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(metric);
        ArgumentNullException.ThrowIfNull(graph);
        _model = model;
        Metric = metric;
        Graph = graph;
        var c = model.Config;
        if (graph.Config.Layers != c.Layers || graph.Config.Heads != c.Heads || graph.Config.KvHeads != c.KvHeads)
            throw new ArgumentException("the graph was built for another model", nameof(graph));
        var pairs = metric.Pairs;
        if (pairs.Count == 0) throw new HeadMinerException("edge patching needs at least one prompt pair");
        for (int i = 0; i < pairs.Count; i++)
            if (pairs.Clean[i].Length != pairs.Length || pairs.Corrupted[i].Length != pairs.Length)
                throw new HeadMinerException($"prompt pair {i}: clean and corrupted prompts must all have {pairs.Length} tokens for edge patching");
        var filter = CacheFilter.Where(h => h.Site is ActivationSite.Z or ActivationSite.MlpOut or ActivationSite.ResidPre);
        var cleanBatch = pairs.CleanBatch();
        _padded = cleanBatch.Mask is not null;
        _prefix = metric.LastPositionOnly && !_padded ? SharedPrefix(pairs) : 0;
        var keySite = c.RotaryDim > 0 ? ActivationSite.RotK : ActivationSite.K;
        var cleanFilter = _prefix == 0 ? filter
            : CacheFilter.Where(h => h.Site is ActivationSite.Z or ActivationSite.MlpOut or ActivationSite.ResidPre or ActivationSite.V || h.Site == keySite);
        var (cleanRun, clean) = model.RunWithCache(cleanBatch, cleanFilter, lastOnly: metric.LastPositionOnly);
        var (corruptedRun, corrupted) = model.RunWithCache(pairs.CorruptedBatch(), filter, lastOnly: metric.LastPositionOnly);
        FiniteForward.Check(model, pairs.CleanBatch(), cleanRun.Logits!, "the clean prompts");
        FiniteForward.Check(model, pairs.CorruptedBatch(), corruptedRun.Logits!, "the corrupted prompts");
        _cleanResidPre = PerLayer(clean, ActivationSite.ResidPre, c.Layers);
        _cleanFinal = cleanRun.Residual;
        _cleanZ = PerLayer(clean, ActivationSite.Z, c.Layers);
        _cleanMlpOut = PerLayer(clean, ActivationSite.MlpOut, c.Layers);
        _corruptedZ = PerLayer(corrupted, ActivationSite.Z, c.Layers);
        _corruptedMlpOut = PerLayer(corrupted, ActivationSite.MlpOut, c.Layers);
        // resid_pre of layer 0 is the embedding (token + learned position, times the embedding multiplier).
        _embedDelta = new float[_cleanResidPre[0].Length];
        TensorPrimitives.Subtract(_cleanResidPre[0], corrupted[ActivationSite.ResidPre, 0].Contiguous().Span, _embedDelta);
        if (_prefix > 0)
        {
            _prefixKeys = PerLayer(clean, keySite, c.Layers);
            _prefixValues = PerLayer(clean, ActivationSite.V, c.Layers);
        }
        _ids = cleanBatch.Ids;
        _rowsPerCopy = pairs.Count * pairs.Length;
        _cleanDelta = new float[graph.Senders.Count][];
        _wo = new Tensor[c.Layers, c.Heads];
        for (int l = 0; l < c.Layers; l++)
            for (int h = 0; h < c.Heads; h++) _wo[l, h] = model.Weights.Blocks[l].W_O.Select(0, h).Contiguous();
        CleanPerPair = metric.PerPair(cleanRun.Logits!);
        CleanMetric = CleanPerPair.Average();
        CorruptedPerPair = metric.PerPair(corruptedRun.Logits!);
        CorruptedMetric = CorruptedPerPair.Average();
    }

    /// <summary>Builds the metric (for KL, from a clean run) and caches the runs.</summary>
    public static EdgePatcher Create(Transformer model, TokenizedPairs pairs, MetricKind kind, CircuitGraph? graph = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        Tensor? cleanLast = kind == MetricKind.KlDivergence ? model.Forward(pairs.CleanBatch(), lastOnly: true) : null;
        return new EdgePatcher(model, new Metric(kind, pairs, cleanLast), graph ?? CircuitGraph.Create(model.Config));
    }

    public Metric Metric { get; }

    public CircuitGraph Graph { get; }

    public Transformer Model => _model;

    public double CleanMetric { get; }

    public double CorruptedMetric { get; }

    public double[] CleanPerPair { get; }

    public double[] CorruptedPerPair { get; }

    /// <summary>Patched sets evaluated so far (for speed reports).</summary>
    public long Evaluations { get; private set; }

    /// <summary>Forward passes run so far (a <see cref="PatchedForward"/> run of one set counts as one).</summary>
    public long Forwards { get; private set; }

    /// <summary>At most this many token rows (copies × pairs × tokens) per batched forward (at least one copy always runs).</summary>
    public int MaxRowsPerRun
    {
        get => _maxRowsPerRun;
        set => _maxRowsPerRun = value > 0 ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "must be positive");
    }

    private int _maxRowsPerRun = 2048;

    /// <summary>
    /// Run every set from layer 0 (the embedding onwards) instead of from its first patched layer: the plain loop,
    /// kept for the benchmark's comparison.
    /// </summary>
    public bool FullReruns { get; init; }

    /// <summary>
    /// Run every set through the model's own forward from its first patched layer, whole layers at every row, as
    /// copies of the pair batch (speculative batches share one forward) — the way before <see cref="PatchedForward"/>
    /// recomputed only what a set changes; kept for speculative batches on hardware where a forward's fixed cost
    /// dominates, and for the benchmark's comparison. Metrics read at every position always run this way.
    /// </summary>
    public bool WholeLayers { get; init; }

    /// <summary>Whether sets run through <see cref="PatchedForward"/> (the default for metrics read at the last position).</summary>
    public bool RecomputesOnlyChanges => !FullReruns && !WholeLayers && Metric.LastPositionOnly && !_padded && PatchedForward.Supports(_model);

    /// <summary>Rows of one copy of the pair batch in a patched run: pairs × the positions it runs.</summary>
    private int RowsPerCopy => _rowsPerCopy;

    /// <summary>Positions every patched run skips: before them no pair's clean and corrupted prompts differ.</summary>
    public int SkippedPositions => FullReruns ? 0 : _prefix;

    /// <summary>
    /// The positions before the first one where some pair's clean and corrupted tokens differ (at most length − 1, so
    /// the last position always runs). Causal attention leaves every activation there equal in both runs, so every
    /// sender's clean − corrupted difference is 0 there, and any patched run equals the clean run on those rows.
    /// </summary>
    private static int SharedPrefix(TokenizedPairs pairs)
    {
        int prefix = pairs.Length - 1;
        for (int i = 0; i < pairs.Count; i++)
            for (int t = 0; t < prefix; t++)
                if (pairs.Clean[i][t] != pairs.Corrupted[i][t])
                {
                    prefix = t;
                    break;
                }
        return prefix;
    }

    /// <summary>
    /// Before the first patched run (not in <see cref="FullReruns"/>): keeps only the suffix rows of every cached
    /// activation, so runs start at the shared prefix's end and read its keys and values from the clean run.
    /// </summary>
    private void UseSuffix()
    {
        if (_suffixOnly || _prefix == 0 || FullReruns) return;
        _suffixOnly = true;
        int n = Metric.Pairs.Count, T = Metric.Pairs.Length, S = T - _prefix;
        float[] Cut(float[] rows)
        {
            int width = rows.Length / (n * T);
            var cut = new float[n * S * width];
            for (int i = 0; i < n; i++) rows.AsSpan((i * T + _prefix) * width, S * width).CopyTo(cut.AsSpan(i * S * width, S * width));
            return cut;
        }
        _cleanResidPre = _cleanResidPre.Select(Cut).ToArray();
        _cleanFinal = Cut(_cleanFinal);
        _cleanZ = _cleanZ.Select(Cut).ToArray();
        _cleanMlpOut = _cleanMlpOut.Select(Cut).ToArray();
        _corruptedZ = _corruptedZ.Select(Cut).ToArray();
        _corruptedMlpOut = _corruptedMlpOut.Select(Cut).ToArray();
        _embedDelta = Cut(_embedDelta);
        var ids = new int[n * S];
        for (int i = 0; i < n; i++) _ids.AsSpan(i * T + _prefix, S).CopyTo(ids.AsSpan(i * S, S));
        _ids = ids;
        _rowsPerCopy = n * S;
    }

    /// <summary>The batch of <paramref name="copies"/> copies of the pairs (their suffixes) and how a run continues their prefix.</summary>
    private (TokenBatch Batch, int Prefix, Func<int, int, (ReadOnlyMemory<float> Keys, ReadOnlyMemory<float> Values)>? PrefixKeysValues) Copies(int copies)
    {
        int n = Metric.Pairs.Count, T = Metric.Pairs.Length, length = _ids.Length / n;
        var ids = new int[_ids.Length * copies];
        for (int j = 0; j < copies; j++) _ids.CopyTo(ids, j * _ids.Length);
        var batch = new TokenBatch(ids, n * copies, length);
        if (!_suffixOnly) return (batch, 0, null);
        int kvw = _model.Config.KvHeads * _model.Config.DHead, prefix = _prefix;
        var keys = _prefixKeys!;
        var values = _prefixValues!;
        return (batch, prefix, (layer, sequence) =>
        {
            int pair = sequence % n;
            return (keys[layer].AsMemory(pair * T * kvw, prefix * kvw), values[layer].AsMemory(pair * T * kvw, prefix * kvw));
        }
        );
    }

    /// <summary>The metric (mean over pairs) with the edges marked true in <paramref name="patched"/> corrupted.</summary>
    public double Evaluate(bool[] patched) => EvaluatePerPair([patched])[0].Average();

    /// <summary>The metric (mean over pairs) of each set of patched edges.</summary>
    public double[] Evaluate(IReadOnlyList<bool[]> patchedSets) => EvaluatePerPair(patchedSets).Select(p => p.Average()).ToArray();

    /// <summary>The metric per pair of each set of patched edges: result[set][pair].</summary>
    public double[][] EvaluatePerPair(IReadOnlyList<bool[]> patchedSets)
    {
        ArgumentNullException.ThrowIfNull(patchedSets);
        var result = new double[patchedSets.Count][];
        var starts = new int[patchedSets.Count];
        for (int i = 0; i < patchedSets.Count; i++)
        {
            if (patchedSets[i].Length != Graph.EdgeCount)
                throw new ArgumentException($"set {i} has {patchedSets[i].Length} flags; the graph has {Graph.EdgeCount} edges", nameof(patchedSets));
            starts[i] = FirstReadLayer(patchedSets[i]);
            if (starts[i] < 0) result[i] = (double[])CleanPerPair.Clone();
            else if (FullReruns) starts[i] = 0;
        }
        UseSuffix();
        if (RecomputesOnlyChanges)
        {
            var forward = _patchedForward ??= new PatchedForward(_model, Graph, Metric.Pairs.Count, _rowsPerCopy / Metric.Pairs.Count, _suffixOnly ? _prefix : 0,
                Copies(1).PrefixKeysValues, _cleanResidPre[0], _corruptedZ, _corruptedMlpOut, _embedDelta);
            for (int i = 0; i < patchedSets.Count; i++)
            {
                if (starts[i] < 0) continue;
                result[i] = Metric.PerPair(forward.Logits(patchedSets[i], starts[i]));
                Forwards++;
            }
            Evaluations += patchedSets.Count;
            return result;
        }
        int copies = CopiesPerRun;
        foreach (var group in Enumerable.Range(0, patchedSets.Count).Where(i => starts[i] >= 0).GroupBy(i => starts[i]))
        {
            var members = group.ToArray();
            for (int first = 0; first < members.Length; first += copies)
            {
                var chunk = members.Skip(first).Take(copies).ToArray();
                var values = Run(group.Key, chunk.Select(i => patchedSets[i]).ToArray());
                for (int j = 0; j < chunk.Length; j++) result[chunk[j]] = values[j];
            }
        }
        Evaluations += patchedSets.Count;
        return result;
    }

    /// <summary>The first layer a patched edge is read in, the layer count when only logits edges are; −1 when none is patched.</summary>
    private int FirstReadLayer(bool[] patched)
    {
        int start = int.MaxValue;
        for (int e = 0; e < patched.Length; e++)
            if (patched[e]) start = Math.Min(start, Graph.Receivers[Graph.Edges[e].Receiver].Layer);
        return start == int.MaxValue ? -1 : start;
    }

    /// <summary>Patched sets one batched forward runs as copies of the pair batch (bounded by <see cref="MaxRowsPerRun"/> and, for full-sequence metrics, 64 Mi logits).</summary>
    public int CopiesPerRun
    {
        get
        {
            int copies = Math.Max(1, MaxRowsPerRun / RowsPerCopy);
            if (!Metric.LastPositionOnly)
                copies = Math.Min(copies, Math.Max(1, (int)Math.Min(int.MaxValue, (64L << 20) / ((long)RowsPerCopy * _model.Config.VocabSize))));
            return copies;
        }
    }

    private double[][] Run(int start, bool[][] sets)
    {
        if (start == _model.Config.Layers) return RunFromFinalResidual(sets);
        int copies = sets.Length;
        var (batch, prefix, prefixKeysValues) = Copies(copies);
        var residual = new float[_cleanResidPre[start].Length * copies];
        for (int j = 0; j < copies; j++) _cleanResidPre[start].CopyTo(residual, j * _cleanResidPre[start].Length);
        var hooks = new PatchHooks(this, start, sets);
        var logits = _model.Run(batch, new ForwardOptions
        {
            Hooks = hooks,
            LastOnly = Metric.LastPositionOnly,
            StartLayer = start,
            StartResidual = residual,
            PrefixLength = prefix,
            PrefixKeysValues = prefixKeysValues,
        }).Logits!;
        Forwards++;
        return Metric.PerPairMany(logits);
    }

    /// <summary>
    /// Sets that patch only edges into the logits: nothing before the final norm changes except the final residual,
    /// so each copy starts as the clean run's final residual less the patched senders' cached clean − corrupted
    /// differences (subtracted in edge order, as the resid_post hook does), and only the unembedding runs.
    /// </summary>
    private double[][] RunFromFinalResidual(bool[][] sets)
    {
        int copies = sets.Length, size = _cleanFinal.Length;
        var (batch, prefix, prefixKeysValues) = Copies(copies);
        var residual = new float[size * copies];
        for (int j = 0; j < copies; j++)
        {
            var copy = residual.AsSpan(j * size, size);
            _cleanFinal.CopyTo(copy);
            for (int e = 0; e < sets[j].Length; e++)
                if (sets[j][e]) TensorPrimitives.Subtract(copy, CleanDelta(Graph.Edges[e].Sender), copy);
        }
        var logits = _model.Run(batch, new ForwardOptions
        {
            LastOnly = Metric.LastPositionOnly,
            StartLayer = _model.Config.Layers,
            StartResidual = residual,
            PrefixLength = prefix,
            PrefixKeysValues = prefixKeysValues,
        }).Logits!;
        Forwards++;
        return Metric.PerPairMany(logits);
    }

    /// <summary>clean − corrupted output of a sender, [rows, d] (computed once).</summary>
    private float[] CleanDelta(int sender)
    {
        if (_cleanDelta[sender] is { } cached) return cached;
        var s = Graph.Senders[sender];
        int d = _model.Config.DModel;
        float[] delta;
        switch (s.Kind)
        {
            case SenderKind.Input:
                delta = _embedDelta;
                break;
            case SenderKind.Mlp:
                delta = new float[RowsPerCopy * d];
                TensorPrimitives.Subtract(_cleanMlpOut[s.Layer], _corruptedMlpOut[s.Layer], delta);
                break;
            default:
                delta = HeadDelta(_cleanZ[s.Layer], s.Layer, s.Head);
                break;
        }
        return _cleanDelta[sender] = delta;
    }

    /// <summary>(z_h − z_h,corrupted) · W_O[h] for one copy's z [rows, H·dh].</summary>
    private float[] HeadDelta(ReadOnlySpan<float> z, int layer, int head)
    {
        var c = _model.Config;
        int dh = c.DHead, width = c.Heads * dh, d = c.DModel, rows = RowsPerCopy;
        var corrupted = _corruptedZ[layer];
        var diff = new float[rows * dh];
        for (int r = 0; r < rows; r++)
            TensorPrimitives.Subtract(z.Slice(r * width + head * dh, dh), corrupted.AsSpan(r * width + head * dh, dh), diff.AsSpan(r * dh, dh));
        var delta = new float[rows * d];
        Gemm.Multiply(false, false, rows, d, dh, 1f, diff, dh, _wo[layer, head].Span, d, 0f, delta, d);
        return delta;
    }

    private static float[][] PerLayer(ActivationCache cache, ActivationSite site, int layers) =>
        Enumerable.Range(0, layers).Select(l => cache[site, l].Contiguous().ToArray()).ToArray();

    /// <summary>
    /// The hooks of one batched run: per copy, the deltas of the senders with a patched edge (cached clean deltas for
    /// senders below the start layer, this run's own for the rest, taken at hook_z / hook_mlp_out), subtracted from
    /// each receiver's input at hook_q/k/v_input, hook_mlp_in and the last resid_post.
    /// </summary>
    private sealed class PatchHooks : IActivationHooks
    {
        private readonly EdgePatcher _owner;
        private readonly int _start;
        private readonly int _rows;
        private readonly int _d;

        // Per copy: receiver index → senders whose edge into it is patched.
        private readonly Dictionary<int, List<int>>[] _into;

        // Per copy: sender index → its delta (filled as the run reaches it).
        private readonly Dictionary<int, float[]>[] _deltas;

        private readonly HashSet<(ActivationSite, int)> _wanted = [];

        public PatchHooks(EdgePatcher owner, int start, bool[][] sets)
        {
            _owner = owner;
            _start = start;
            _rows = owner.RowsPerCopy;
            _d = owner._model.Config.DModel;
            var graph = owner.Graph;
            _into = new Dictionary<int, List<int>>[sets.Length];
            _deltas = new Dictionary<int, float[]>[sets.Length];
            for (int j = 0; j < sets.Length; j++)
            {
                _into[j] = [];
                _deltas[j] = [];
                for (int e = 0; e < sets[j].Length; e++)
                {
                    if (!sets[j][e]) continue;
                    var edge = graph.Edges[e];
                    if (!_into[j].TryGetValue(edge.Receiver, out var list)) _into[j][edge.Receiver] = list = [];
                    list.Add(edge.Sender);
                    var s = graph.Senders[edge.Sender];
                    if (s.Layer < start) _deltas[j][edge.Sender] = owner.CleanDelta(edge.Sender);
                    else _wanted.Add((s.Kind == SenderKind.Head ? ActivationSite.Z : ActivationSite.MlpOut, s.Layer));
                    var r = graph.Receivers[edge.Receiver];
                    switch (r.Kind)
                    {
                        case ReceiverKind.Query: _wanted.Add((ActivationSite.QInput, r.Layer)); break;
                        case ReceiverKind.Key: _wanted.Add((ActivationSite.KInput, r.Layer)); break;
                        case ReceiverKind.Value: _wanted.Add((ActivationSite.VInput, r.Layer)); break;
                        case ReceiverKind.HeadInputs:
                            _wanted.Add((ActivationSite.QInput, r.Layer));
                            _wanted.Add((ActivationSite.KInput, r.Layer));
                            _wanted.Add((ActivationSite.VInput, r.Layer));
                            break;
                        case ReceiverKind.Mlp: _wanted.Add((ActivationSite.MlpIn, r.Layer)); break;
                        default: _wanted.Add((ActivationSite.ResidPost, owner._model.Config.Layers - 1)); break;
                    }
                }
            }
        }

        public bool Wants(ActivationSite site, int layer) => _wanted.Contains((site, layer));

        public void Visit(ActivationSite site, int layer, Tensor activation)
        {
            var live = activation.Span;
            var graph = _owner.Graph;
            var c = _owner._model.Config;
            switch (site)
            {
                case ActivationSite.Z:
                    for (int j = 0; j < _into.Length; j++)
                    {
                        int width = c.Heads * c.DHead;
                        var z = live.Slice(j * _rows * width, _rows * width);
                        foreach (var list in _into[j].Values)
                            foreach (int s in list)
                            {
                                var sender = graph.Senders[s];
                                if (sender.Kind == SenderKind.Head && sender.Layer == layer && !_deltas[j].ContainsKey(s))
                                    _deltas[j][s] = _owner.HeadDelta(z, layer, sender.Head);
                            }
                    }
                    break;
                case ActivationSite.MlpOut:
                    for (int j = 0; j < _into.Length; j++)
                    {
                        int s = graph.MlpSender(layer);
                        if (_deltas[j].ContainsKey(s) || !_into[j].Values.Any(list => list.Contains(s))) continue;
                        var delta = new float[_rows * _d];
                        TensorPrimitives.Subtract(live.Slice(j * _rows * _d, _rows * _d), _owner._corruptedMlpOut[layer], delta);
                        _deltas[j][s] = delta;
                    }
                    break;
                case ActivationSite.QInput:
                    PatchHeadInputs(live, layer, activation.Dim(2), ReceiverKind.Query);
                    break;
                case ActivationSite.KInput:
                    PatchHeadInputs(live, layer, activation.Dim(2), ReceiverKind.Key);
                    break;
                case ActivationSite.VInput:
                    PatchHeadInputs(live, layer, activation.Dim(2), ReceiverKind.Value);
                    break;
                case ActivationSite.MlpIn:
                    PatchWhole(live, graph.Receivers.First(r => r.Kind == ReceiverKind.Mlp && r.Layer == layer).Index);
                    break;
                case ActivationSite.ResidPost:
                    PatchWhole(live, graph.Receivers[^1].Index);
                    break;
            }
        }

        /// <summary>Subtracts the patched senders' deltas from every row of one [rows, d] receiver input per copy.</summary>
        private void PatchWhole(Span<float> live, int receiver)
        {
            for (int j = 0; j < _into.Length; j++)
            {
                if (!_into[j].TryGetValue(receiver, out var senders)) continue;
                var copy = live.Slice(j * _rows * _d, _rows * _d);
                foreach (int s in senders) TensorPrimitives.Subtract(copy, _deltas[j][s], copy);
            }
        }

        /// <summary>Per copy and receiver of this kind in this layer: subtracts the deltas from that head's copy of resid_pre ([rows, heads, d]).</summary>
        private void PatchHeadInputs(Span<float> live, int layer, int heads, ReceiverKind kind)
        {
            var graph = _owner.Graph;
            for (int j = 0; j < _into.Length; j++)
            {
                foreach (var (receiver, senders) in _into[j])
                {
                    var r = graph.Receivers[receiver];
                    if (r.Layer != layer || (r.Kind != kind && r.Kind != ReceiverKind.HeadInputs)) continue;
                    int head = r.Head; // unsplit receivers exist only with one k/v head per query head
                    foreach (int s in senders)
                    {
                        var delta = _deltas[j][s];
                        for (int row = 0; row < _rows; row++)
                        {
                            var target = live.Slice(((j * _rows + row) * heads + head) * _d, _d);
                            TensorPrimitives.Subtract(target, delta.AsSpan(row * _d, _d), target);
                        }
                    }
                }
            }
        }
    }
}
