using HeadMiner.Models;
using HeadMiner.Tensors;
using HeadMiner.Tensors.Kernels;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace HeadMiner.Analysis.Circuits;

/// <summary>
/// The forward of one patched edge set that recomputes only what the set changes (<see cref="EdgePatcher"/>'s default
/// for metrics read at the last position). Its own clean pass caches, per layer, every head's q, k, v and z, the
/// attention and MLP outputs and the residual; a set whose first patched edge is read in layer s then runs:
/// <list type="bullet">
/// <item>in layer s, only the heads one of whose inputs is patched: their q, k or v from the patched input, their
/// attention; every other head's z is the cached clean one. Those heads' results are kept, keyed by the patched
/// senders of their inputs (their input there is the clean residual less cached clean deltas, so the key fixes it):
/// an ACDC sweep varies one receiver at a time, so the layer-mates it already pruned cost nothing on the next try;</item>
/// <item>the layers above s in full, except the last, which runs its queries, attention output, MLP and
/// unembedding only at each pair's last position (keys and values at all positions);</item>
/// <item>only the positions after the pairs' shared prefix, whose keys and values come from the clean run;</item>
/// <item>not at all, the heads and MLPs at or above s with every edge out of them patched: every reader sees their
/// corrupted output, so that output goes into the residual stream as it is, and no reader subtracts a difference
/// (an ACDC sweep has pruned most nodes above the layer it is in);</item>
/// <item>per receiver, one subtraction of the kept sum of its patched senders' clean deltas from below s, and one
/// norm per distinct patched input of a layer.</item>
/// </list>
/// Each step computes what the model's forward computes for those rows (same kernels, per-head projections), so the
/// metric equals the full patched rerun within float rounding (EdgePatcherTests compare it to a naive rerun).
/// </summary>
internal sealed class PatchedForward
{
    private readonly Transformer _model;
    private readonly ModelConfig _c;
    private readonly CircuitGraph _graph;
    private readonly int _pairs, _suffix, _prefix, _rows, _d, _dh, _qw, _kvw;
    private readonly int[] _allRows, _lastRows, _positions;
    private readonly Func<int, int, (ReadOnlyMemory<float> Keys, ReadOnlyMemory<float> Values)>? _prefixKeysValues;

    // The clean run, per layer, over all suffix rows.
    private readonly float[][] _residPre, _q, _k, _v, _z, _attnOut, _mlpOut;
    private float[] _final = [];
    private readonly float[][] _corruptedZ, _corruptedMlpOut;
    private readonly float[] _embedDelta;
    private readonly float[]?[] _cleanDelta;

    // Receiver index by (layer, head or k/v head); −1 where the graph has none.
    private readonly int[,] _query, _key, _value, _headInputs;
    private readonly int[] _mlp;
    private readonly int _logits;

    // Results of the start layer's heads and receivers, keyed by their patched senders (valid for one start layer).
    private readonly Dictionary<string, float[]> _memo = new(StringComparer.Ordinal);
    private int _memoLayer = -1;

    // Sums of clean deltas by sender list (SubtractDeltas), at most this many floats in all.
    private const long CleanSumFloats = 16L << 20;
    private readonly Dictionary<string, float[]> _cleanSums = new(StringComparer.Ordinal);

    public PatchedForward(Transformer model, CircuitGraph graph, int pairs, int suffix, int prefix,
        Func<int, int, (ReadOnlyMemory<float> Keys, ReadOnlyMemory<float> Values)>? prefixKeysValues,
        float[] cleanResidPre0, float[][] corruptedZ, float[][] corruptedMlpOut, float[] embedDelta)
    {
        _model = model;
        _c = model.Config;
        _graph = graph;
        _pairs = pairs;
        _suffix = suffix;
        _prefix = prefix;
        _rows = pairs * suffix;
        _d = _c.DModel;
        _dh = _c.DHead;
        _qw = _c.Heads * _dh;
        _kvw = _c.KvHeads * _dh;
        _prefixKeysValues = prefixKeysValues;
        _allRows = Enumerable.Range(0, _rows).ToArray();
        _lastRows = Enumerable.Range(0, pairs).Select(i => i * suffix + suffix - 1).ToArray();
        _positions = Enumerable.Range(0, _rows).Select(r => prefix + r % suffix).ToArray();
        _corruptedZ = corruptedZ;
        _corruptedMlpOut = corruptedMlpOut;
        _embedDelta = embedDelta;
        _cleanDelta = new float[graph.Senders.Count][];
        int L = _c.Layers;
        _residPre = new float[L][];
        _q = new float[L][];
        _k = new float[L][];
        _v = new float[L][];
        _z = new float[L][];
        _attnOut = new float[L][];
        _mlpOut = new float[L][];
        _query = Filled(L, _c.Heads);
        _key = Filled(L, _c.KvHeads);
        _value = Filled(L, _c.KvHeads);
        _headInputs = Filled(L, _c.Heads);
        _mlp = Enumerable.Repeat(-1, L).ToArray();
        foreach (var r in graph.Receivers)
        {
            switch (r.Kind)
            {
                case ReceiverKind.Query: _query[r.Layer, r.Head] = r.Index; break;
                case ReceiverKind.Key: _key[r.Layer, r.Head] = r.Index; break;
                case ReceiverKind.Value: _value[r.Layer, r.Head] = r.Index; break;
                case ReceiverKind.HeadInputs: _headInputs[r.Layer, r.Head] = r.Index; break;
                case ReceiverKind.Mlp: _mlp[r.Layer] = r.Index; break;
                default: _logits = r.Index; break;
            }
        }
        var clean = new Patches();
        _final = RunLayers(0, (float[])cleanResidPre0.Clone(), clean, store: true);
    }

    /// <summary>Whether this forward computes <paramref name="model"/>'s blocks (pre-norm, per-head or no QK-norm).</summary>
    public static bool Supports(Transformer model) =>
        !model.Config.PostNorm && model.Config.QkNorm is QkNormKind.None or QkNormKind.PerHead
        && model.Weights.Blocks.All(b => b.HasAttention && b.HasMlp);

    /// <summary>The metric's logits [pairs, 1, vocab] at each pair's last position with the edges marked in <paramref name="patched"/> corrupted.</summary>
    public Tensor Logits(bool[] patched, int start)
    {
        var p = new Patches { Start = start, Dead = new bool[_graph.Senders.Count] };
        foreach (var sender in _graph.Senders)
            if (sender.Layer >= start && _graph.EdgesOutOf[sender.Index].Count > 0 && _graph.EdgesOutOf[sender.Index].All(e => patched[e])) p.Dead[sender.Index] = true;
        for (int e = 0; e < patched.Length; e++)
        {
            if (!patched[e]) continue;
            var edge = _graph.Edges[e];
            // A node every edge out of which is patched: every reader sees its corrupted output, so it writes that
            // into the residual stream itself, and nothing subtracts a difference.
            if (p.Dead[edge.Sender]) continue;
            if (!p.Into.TryGetValue(edge.Receiver, out var list)) p.Into[edge.Receiver] = list = [];
            list.Add(edge.Sender);
            var s = _graph.Senders[edge.Sender];
            if (s.Layer < start) p.Deltas[edge.Sender] = CleanDelta(edge.Sender);
            else p.Wanted.Add(edge.Sender);
        }
        float[] final = start == _c.Layers ? Gather(_final, _d, _lastRows) : RunLayers(start, (float[])_residPre[start].Clone(), p, store: false);
        if (p.Into.TryGetValue(_logits, out var senders)) SubtractDeltas(final, _lastRows, senders, p);
        return Tensor.Wrap(Unembed(final), _pairs, 1, _c.VocabSize);
    }

    private sealed class Patches
    {
        /// <summary>Receiver → the senders of its patched edges, in edge order.</summary>
        public readonly Dictionary<int, List<int>> Into = [];

        /// <summary>Senders at or above the start layer with a patched edge: their delta is taken in the run.</summary>
        public readonly HashSet<int> Wanted = [];

        /// <summary>Sender → clean-or-this-run output − corrupted output, [all suffix rows or the last rows, d].</summary>
        public readonly Dictionary<int, float[]> Deltas = [];

        /// <summary>The layer the run starts at: senders below it have their clean deltas.</summary>
        public int Start { get; init; }

        /// <summary>Senders at or above the start layer with every edge out of them patched: their output is the corrupted one, not computed.</summary>
        public bool[] Dead { get; init; } = [];

        public bool IsDead(int sender) => Dead.Length > 0 && Dead[sender];
    }

    /// <summary>
    /// Runs layers [<paramref name="start"/>, L) on the residual <paramref name="x"/> (all suffix rows) and returns the
    /// final residual: at every row when <paramref name="store"/> (the clean pass, which caches each layer), else at
    /// each pair's last row.
    /// </summary>
    private float[] RunLayers(int start, float[] x, Patches p, bool store)
    {
        int L = _c.Layers, H = _c.Heads;
        if (start != _memoLayer || _memo.Count > 16 * (H + 2 * _c.KvHeads))
        {
            _memo.Clear();
            _memoLayer = start;
        }
        for (int l = start; l < L; l++)
        {
            var w = _model.Weights.Blocks[l];
            bool reduce = l == L - 1 && !store;
            var rows = reduce ? _lastRows : _allRows;
            if (store) _residPre[l] = (float[])x.Clone();

            // Attention: in the start layer only the heads with a patched input; above it, every head.
            float[] z, attnOut;
            if (l == start && !store)
            {
                z = Gather(_z[l], _qw, rows);
                bool changed = false;
                for (int h = 0; h < H; h++)
                {
                    if (p.IsDead(_graph.HeadSender(l, h)))
                    {
                        changed = true;
                        CopyColumns(_corruptedZ[l], h, rows, z);
                        continue;
                    }
                    if (!HeadPatched(l, h, p)) continue;
                    changed = true;
                    var zh = Memo($"z{h}:{Key(QueryReceiver(l, h), p)}/{Key(KeyReceiver(l, h), p)}/{Key(ValueReceiver(l, h), p)}",
                        () => HeadZ(l, h, x, rows, p));
                    for (int r = 0; r < rows.Length; r++) zh.AsSpan(r * _dh, _dh).CopyTo(z.AsSpan(r * _qw + h * _dh, _dh));
                }
                attnOut = changed ? OutputProjection(w, z, rows.Length) : Gather(_attnOut[l], _d, rows);
            }
            else if (Enumerable.Range(0, H).All(h => p.IsDead(_graph.HeadSender(l, h))))
            {
                z = Gather(_corruptedZ[l], _qw, rows);
                attnOut = OutputProjection(w, z, rows.Length);
            }
            else
            {
                var (q, k, v) = Projections(l, w, x, rows, p);
                z = new float[rows.Length * _qw];
                Attend(l, q, _qw, 0, k, v, _kvw, 0, 0, H, _c.KvHeads, z, _qw, 0, reduce);
                for (int h = 0; h < H; h++)
                    if (p.IsDead(_graph.HeadSender(l, h))) CopyColumns(_corruptedZ[l], h, rows, z);
                attnOut = OutputProjection(w, z, rows.Length);
                if (store)
                {
                    _q[l] = q;
                    _k[l] = k;
                    _v[l] = v;
                    _z[l] = z;
                    _attnOut[l] = attnOut;
                }
            }
            for (int h = 0; h < H; h++)
            {
                int s = _graph.HeadSender(l, h);
                if (p.Wanted.Contains(s)) p.Deltas[s] = HeadDelta(l, h, z, rows);
            }

            // The MLP, on the rows still needed.
            var xr = reduce ? Gather(x, _d, rows) : x;
            var span = xr.AsSpan();
            if (!_c.ParallelAttnMlp) TensorPrimitives.Add(span, attnOut, span);
            var mlpIn = xr;
            if (_mlp[l] >= 0 && p.Into.TryGetValue(_mlp[l], out var mlpSenders))
            {
                mlpIn = (float[])xr.Clone();
                SubtractDeltas(mlpIn, rows, mlpSenders, p);
            }
            var mlpOut = p.IsDead(_graph.MlpSender(l)) ? Gather(_corruptedMlpOut[l], _d, rows) : Mlp(w, BlockNorm(mlpIn, rows.Length, w.Ln2Weight, w.Ln2Bias), rows.Length);
            if (store) _mlpOut[l] = mlpOut;
            int mlpSender = _graph.MlpSender(l);
            if (p.Wanted.Contains(mlpSender))
            {
                var delta = Gather(_corruptedMlpOut[l], _d, rows);
                TensorPrimitives.Subtract(mlpOut, delta, delta);
                p.Deltas[mlpSender] = delta;
            }
            if (_c.ParallelAttnMlp) TensorPrimitives.Add(span, attnOut, span);
            TensorPrimitives.Add(span, mlpOut, span);
            x = xr;
        }
        return x;
    }

    private float[] Memo(string key, Func<float[]> compute)
    {
        if (_memo.TryGetValue(key, out var value)) return value;
        return _memo[key] = compute();
    }

    private static string Key(int receiver, Patches p) =>
        receiver >= 0 && p.Into.TryGetValue(receiver, out var senders) ? $"{receiver}:{string.Join(',', senders)}" : "";

    private int QueryReceiver(int l, int h) => _graph.SplitQkv ? _query[l, h] : _headInputs[l, h];

    private int KeyReceiver(int l, int h) => _graph.SplitQkv ? _key[l, _c.KvHeadOf(h)] : _headInputs[l, h];

    private int ValueReceiver(int l, int h) => _graph.SplitQkv ? _value[l, _c.KvHeadOf(h)] : _headInputs[l, h];

    private bool HeadPatched(int l, int h, Patches p) =>
        p.Into.ContainsKey(QueryReceiver(l, h)) || p.Into.ContainsKey(KeyReceiver(l, h)) || p.Into.ContainsKey(ValueReceiver(l, h));

    /// <summary>One head's z [rows, d_head] in the start layer: its q, k and v patched or clean, its attention alone.</summary>
    private float[] HeadZ(int l, int h, float[] x, int[] rows, Patches p)
    {
        int g = _c.KvHeadOf(h);
        var q = ReceiverOrClean(l, QueryReceiver(l, h), x, rows, p, Slice(_q[l], _qw, h, rows), ActivationSite.QInput, h);
        var k = ReceiverOrClean(l, KeyReceiver(l, h), x, _allRows, p, Slice(_k[l], _kvw, g, _allRows), ActivationSite.KInput, g);
        var v = ReceiverOrClean(l, ValueReceiver(l, h), x, _allRows, p, Slice(_v[l], _kvw, g, _allRows), ActivationSite.VInput, g);
        var z = new float[rows.Length * _dh];
        Attend(l, q, _dh, 0, k, v, _dh, 0, g * _dh, 1, 1, z, _dh, 0, lastOnly: l == _c.Layers - 1);
        return z;
    }

    private float[] ReceiverOrClean(int l, int receiver, float[] x, int[] rows, Patches p, float[] clean, ActivationSite site, int head)
    {
        if (receiver < 0 || !p.Into.ContainsKey(receiver)) return clean;
        return Memo($"{site}{head}@{rows.Length}:{Key(receiver, p)}", () =>
        {
            var y = new float[rows.Length * _dh];
            ProjectPatched(l, site, head, x, rows, p.Into[receiver], p, y, _dh, 0);
            return y;
        });
    }

    /// <summary>
    /// One head's q, k or v (after its QK-norm and rotary) from its patched input — the residual less the patched
    /// senders' deltas, normalised on its own — into columns [column, column + d_head) of <paramref name="dst"/>.
    /// </summary>
    private void ProjectPatched(int l, ActivationSite site, int head, float[] x, int[] rows, List<int> senders, Patches p, float[] dst, int ld, int column,
        Dictionary<string, float[]>? inputs = null)
    {
        var w = _model.Weights.Blocks[l];
        float[] NormedInput()
        {
            var input = Gather(x, _d, rows);
            SubtractDeltas(input, rows, senders, p);
            return BlockNorm(input, rows.Length, w.Ln1Weight, w.Ln1Bias);
        }
        // Receivers of one layer with the same patched senders read the same input (often: a pruned layer's heads).
        string key = $"{rows.Length}:{string.Join(',', senders)}";
        var normed = inputs is null ? NormedInput() : inputs.TryGetValue(key, out var shared) ? shared : inputs[key] = NormedInput();
        var (weight, bias) = site switch
        {
            ActivationSite.QInput => (w.W_Q, w.b_Q),
            ActivationSite.KInput => (w.W_K, w.b_K),
            _ => (w.W_V, w.b_V),
        };
        Operand(weight.Select(0, head)).Multiply(normed, _d, rows.Length, dst.AsSpan(column), ld, precision: _model.Precision);
        if (bias is not null)
        {
            var b = bias.Select(0, head).Contiguous().Span;
            for (int r = 0; r < rows.Length; r++) TensorPrimitives.Add(dst.AsSpan(r * ld + column, _dh), b, dst.AsSpan(r * ld + column, _dh));
        }
        if (site == ActivationSite.VInput) return;
        bool query = site == ActivationSite.QInput;
        if (_c.QkNorm == QkNormKind.PerHead)
        {
            var g = (query ? w.QNormWeight : w.KNormWeight)!.Contiguous().Span;
            for (int r = 0; r < rows.Length; r++) Norms.RmsNorm(dst.AsSpan(r * ld + column, _dh), dst.AsSpan(r * ld + column, _dh), 1, _dh, g, _c.NormEps);
        }
        if (_model.RotaryFor(l) is { } rotary)
            rotary.Apply(dst.AsSpan(column), rows.Length, ld, 1, _dh, Positions(rows), _c.RotaryStyle);
    }

    /// <summary>q at <paramref name="rows"/>, k and v at every row, of every head: projected from the layer's normalised residual, patched inputs recomputed per head.</summary>
    private (float[] Q, float[] K, float[] V) Projections(int l, LayerWeights w, float[] x, int[] rows, Patches p)
    {
        var normed = BlockNorm(x, _rows, w.Ln1Weight, w.Ln1Bias);
        var q = new float[rows.Length * _qw];
        var k = new float[_rows * _kvw];
        var v = new float[_rows * _kvw];
        ProjectAll(rows.Length == _rows ? normed : Gather(normed, _d, rows), rows.Length, w.W_Q, w.b_Q, q, _qw);
        ProjectAll(normed, _rows, w.W_K, w.b_K, k, _kvw);
        ProjectAll(normed, _rows, w.W_V, w.b_V, v, _kvw);
        if (_c.QkNorm == QkNormKind.PerHead)
        {
            Norms.RmsNorm(q, q, rows.Length * _c.Heads, _dh, w.QNormWeight!.Contiguous().Span, _c.NormEps);
            Norms.RmsNorm(k, k, _rows * _c.KvHeads, _dh, w.KNormWeight!.Contiguous().Span, _c.NormEps);
        }
        if (_model.RotaryFor(l) is { } rotary)
        {
            rotary.Apply(q, rows.Length, _qw, _c.Heads, _dh, Positions(rows), _c.RotaryStyle);
            rotary.Apply(k, _rows, _kvw, _c.KvHeads, _dh, _positions, _c.RotaryStyle);
        }
        var inputs = new Dictionary<string, float[]>(StringComparer.Ordinal);
        for (int h = 0; h < _c.Heads; h++)
        {
            // A dead head's z is replaced by the corrupted one: its inputs need no recomputing.
            if (p.IsDead(_graph.HeadSender(l, h))) continue;
            if (QueryReceiver(l, h) is int r && r >= 0 && p.Into.TryGetValue(r, out var senders))
                ProjectPatched(l, ActivationSite.QInput, h, x, rows, senders, p, q, _qw, h * _dh, inputs);
        }
        for (int g = 0; g < _c.KvHeads; g++)
        {
            // Unsplit receivers: k/v head g is head g (one k/v head per query head).
            if (Enumerable.Range(0, _c.Heads).Where(h => _c.KvHeadOf(h) == g).All(h => p.IsDead(_graph.HeadSender(l, h)))) continue;
            int kr = _graph.SplitQkv ? _key[l, g] : _headInputs[l, g];
            int vr = _graph.SplitQkv ? _value[l, g] : _headInputs[l, g];
            if (kr >= 0 && p.Into.TryGetValue(kr, out var ks)) ProjectPatched(l, ActivationSite.KInput, g, x, _allRows, ks, p, k, _kvw, g * _dh, inputs);
            if (vr >= 0 && p.Into.TryGetValue(vr, out var vs)) ProjectPatched(l, ActivationSite.VInput, g, x, _allRows, vs, p, v, _kvw, g * _dh, inputs);
        }
        return (q, k, v);
    }

    private void ProjectAll(float[] x, int rows, Tensor w, Tensor? bias, float[] dst, int ld)
    {
        if (MatrixOperand.OfHeads(w) is { } op) op.Multiply(x, _d, rows, dst, ld, precision: _model.Precision, packs: _model.Packs);
        else
            for (int h = 0; h < w.Dim(0); h++) Operand(w.Select(0, h)).Multiply(x, _d, rows, dst.AsSpan(h * _dh), ld, precision: _model.Precision);
        if (bias is null) return;
        var b = bias.Contiguous().Span;
        for (int r = 0; r < rows; r++) TensorPrimitives.Add(dst.AsSpan(r * ld, b.Length), b, dst.AsSpan(r * ld, b.Length));
    }

    /// <summary>
    /// Causal attention per pair over the shared prefix's clean keys and values and this run's: queries are every
    /// suffix row of a pair, or only its last when <paramref name="lastOnly"/>. Columns start at the given offsets
    /// (<paramref name="prefixColumn"/>: in the prefix's rows of all k/v heads).
    /// </summary>
    private void Attend(int l, float[] q, int qStride, int qColumn, float[] k, float[] v, int kvStride, int kvColumn, int prefixColumn,
        int heads, int kvHeads, float[] z, int zStride, int zColumn, bool lastOnly)
    {
        int S = _suffix, P = _prefix, K = P + S, width = kvHeads * _dh, queries = lastOnly ? 1 : S;
        var mask = new AttentionMask { FirstQueryPosition = P + S - queries, SlidingWindow = _c.AttentionWindow[l] };
        float softCap = _c.AttentionSoftCap ?? 0;
        var keys = new float[K * width];
        var values = new float[K * width];
        for (int i = 0; i < _pairs; i++)
        {
            if (P > 0)
            {
                var (pk, pv) = _prefixKeysValues!(l, i);
                for (int t = 0; t < P; t++)
                {
                    pk.Span.Slice(t * _kvw + prefixColumn, width).CopyTo(keys.AsSpan(t * width, width));
                    pv.Span.Slice(t * _kvw + prefixColumn, width).CopyTo(values.AsSpan(t * width, width));
                }
            }
            for (int t = 0; t < S; t++)
            {
                k.AsSpan((i * S + t) * kvStride + kvColumn, width).CopyTo(keys.AsSpan((P + t) * width, width));
                v.AsSpan((i * S + t) * kvStride + kvColumn, width).CopyTo(values.AsSpan((P + t) * width, width));
            }
            Attention.Forward(q.AsSpan(i * queries * qStride + qColumn), qStride, keys, values, width,
                z.AsSpan(i * queries * zStride + zColumn), zStride, queries, K, heads, kvHeads, _dh, _c.AttentionScale, mask, softCap: softCap);
        }
    }

    private float[] OutputProjection(LayerWeights w, float[] z, int rows)
    {
        var y = new float[rows * _d];
        if (MatrixOperand.OfOutput(w.W_O) is { } view) view.Multiply(z, _qw, rows, y, _d, precision: _model.Precision, packs: _model.Packs);
        else Operand(w.W_O.Contiguous().Reshape(-1, _d)).Multiply(z, _qw, rows, y, _d, precision: _model.Precision);
        if (w.b_O is not null) AddBias(y, rows, w.b_O);
        return y;
    }

    private float[] Mlp(LayerWeights w, float[] normed, int rows)
    {
        int m = _c.DMlp;
        var pre = new float[rows * m];
        MultiplyWeight(w.W_in, normed, _d, rows, pre, m);
        if (w.b_in is not null) AddBias(pre, rows, w.b_in);
        switch (_c.Activation)
        {
            case MlpActivation.GeluTanh: Activations.GeluTanh(pre, pre); break;
            case MlpActivation.GeluErf: Activations.GeluErf(pre, pre); break;
            default:
                var gate = new float[rows * m];
                MultiplyWeight(w.W_gate!, normed, _d, rows, gate, m);
                if (_c.Activation == MlpActivation.SwiGlu) Activations.Silu(gate, gate);
                else Activations.GeluTanh(gate, gate);
                TensorPrimitives.Multiply(pre, gate, pre);
                break;
        }
        var y = new float[rows * _d];
        MultiplyWeight(w.W_out, pre, m, rows, y, _d);
        if (w.b_out is not null) AddBias(y, rows, w.b_out);
        return y;
    }

    private float[] Unembed(float[] x)
    {
        int rows = x.Length / _d, vocab = _c.VocabSize;
        var normed = new float[x.Length];
        Normalize(x, normed, rows, _model.Weights.LnFinalWeight, _model.Weights.LnFinalBias);
        var logits = new float[rows * vocab];
        MultiplyWeight(_model.Weights.W_U, normed, _d, rows, logits, vocab);
        if (_model.Weights.b_U is not null) AddBias(logits, rows, _model.Weights.b_U);
        if (_c.FinalLogitSoftCap is { } cap) Activations.SoftCap(logits, logits, cap);
        return logits;
    }

    /// <summary>A block's input norm (ln1 / ln2); a model without pre-norms reads the residual itself.</summary>
    private float[] BlockNorm(float[] x, int rows, Tensor? weight, Tensor? bias)
    {
        var y = new float[rows * _d];
        if (!_c.PreNorm) x.AsSpan(0, rows * _d).CopyTo(y);
        else Normalize(x, y, rows, weight, bias);
        return y;
    }

    private void Normalize(float[] x, float[] y, int rows, Tensor? weight, Tensor? bias)
    {
        var g = weight is null ? default : weight.Contiguous().Span;
        if (_c.Norm == NormKind.LayerNorm) Norms.LayerNorm(x.AsSpan(0, rows * _d), y, rows, _d, g, bias is null ? default : bias.Contiguous().Span, _c.NormEps);
        else Norms.RmsNorm(x.AsSpan(0, rows * _d), y, rows, _d, g, _c.NormEps);
    }

    /// <summary>(z_h − z_h,corrupted) · W_O[h] at <paramref name="rows"/> ([rows, d]).</summary>
    private float[] HeadDelta(int l, int h, float[] z, int[] rows)
    {
        var diff = new float[rows.Length * _dh];
        var corrupted = _corruptedZ[l];
        for (int r = 0; r < rows.Length; r++)
            TensorPrimitives.Subtract(z.AsSpan(r * _qw + h * _dh, _dh), corrupted.AsSpan(rows[r] * _qw + h * _dh, _dh), diff.AsSpan(r * _dh, _dh));
        var delta = new float[rows.Length * _d];
        Operand(_model.Weights.Blocks[l].W_O.Select(0, h)).Multiply(diff, _dh, rows.Length, delta, _d, precision: _model.Precision);
        return delta;
    }

    /// <summary>A sender's clean − corrupted output at every suffix row (computed once).</summary>
    private float[] CleanDelta(int sender)
    {
        if (_cleanDelta[sender] is { } cached) return cached;
        var s = _graph.Senders[sender];
        float[] delta;
        switch (s.Kind)
        {
            case SenderKind.Input:
                delta = _embedDelta;
                break;
            case SenderKind.Mlp:
                delta = new float[_rows * _d];
                TensorPrimitives.Subtract(_mlpOut[s.Layer], _corruptedMlpOut[s.Layer], delta);
                break;
            default:
                delta = HeadDelta(s.Layer, s.Head, _z[s.Layer], _allRows);
                break;
        }
        return _cleanDelta[sender] = delta;
    }

    /// <summary>
    /// Subtracts the senders' deltas from <paramref name="input"/>, whose rows are the suffix rows
    /// <paramref name="rows"/>; a delta covers every suffix row or exactly these. The senders below the start layer
    /// (the first in edge order) have fixed clean deltas: their sum is kept per sender list, so a receiver pruned
    /// earlier in the sweep costs one subtraction per run, not one per pruned edge.
    /// </summary>
    private void SubtractDeltas(float[] input, int[] rows, List<int> senders, Patches p)
    {
        int below = 0;
        while (below < senders.Count && _graph.Senders[senders[below]].Layer < p.Start) below++;
        if (below > 0) Subtract(input, rows, below == 1 ? p.Deltas[senders[0]] : CleanSum(senders, below));
        for (int i = below; i < senders.Count; i++) Subtract(input, rows, p.Deltas[senders[i]]);
    }

    private void Subtract(float[] input, int[] rows, float[] delta)
    {
        // rows.Length == _rows only for all rows (or when every row is a last one): both ways agree then.
        if (delta.Length != _rows * _d || rows.Length == _rows)
            TensorPrimitives.Subtract(input.AsSpan(0, rows.Length * _d), delta.AsSpan(0, rows.Length * _d), input.AsSpan(0, rows.Length * _d));
        else
            for (int r = 0; r < rows.Length; r++)
                TensorPrimitives.Subtract(input.AsSpan(r * _d, _d), delta.AsSpan(rows[r] * _d, _d), input.AsSpan(r * _d, _d));
    }

    /// <summary>Σ of the clean deltas of the first <paramref name="count"/> senders, at every suffix row (kept, within a memory bound).</summary>
    private float[] CleanSum(List<int> senders, int count)
    {
        string key = string.Join(',', senders.Take(count));
        if (_cleanSums.TryGetValue(key, out var sum)) return sum;
        if ((long)(_cleanSums.Count + 1) * _rows * _d > CleanSumFloats) _cleanSums.Clear();
        sum = (float[])CleanDelta(senders[0]).Clone();
        for (int i = 1; i < count; i++) TensorPrimitives.Add(sum, CleanDelta(senders[i]), sum);
        return _cleanSums[key] = sum;
    }

    private int[] Positions(int[] rows) => rows.Length == _rows ? _positions : rows.Select(r => _positions[r]).ToArray();

    private float[] Gather(float[] source, int width, int[] rows)
    {
        var y = new float[rows.Length * width];
        if (rows.Length == _rows && source.Length == y.Length) source.CopyTo(y, 0);
        else
            for (int r = 0; r < rows.Length; r++) source.AsSpan(rows[r] * width, width).CopyTo(y.AsSpan(r * width, width));
        return y;
    }

    /// <summary>Columns [block·d_head, (block + 1)·d_head) of <paramref name="source"/> at <paramref name="rows"/>, [rows, d_head].</summary>
    private float[] Slice(float[] source, int width, int block, int[] rows)
    {
        var y = new float[rows.Length * _dh];
        for (int r = 0; r < rows.Length; r++) source.AsSpan(rows[r] * width + block * _dh, _dh).CopyTo(y.AsSpan(r * _dh, _dh));
        return y;
    }

    /// <summary>Head <paramref name="head"/>'s columns of <paramref name="source"/> [suffix rows, H·d_head] at <paramref name="rows"/> into <paramref name="z"/> [rows, H·d_head].</summary>
    private void CopyColumns(float[] source, int head, int[] rows, float[] z)
    {
        for (int r = 0; r < rows.Length; r++) source.AsSpan(rows[r] * _qw + head * _dh, _dh).CopyTo(z.AsSpan(r * _qw + head * _dh, _dh));
    }

    private static MatrixOperand Operand(Tensor w) => MatrixOperand.Of(w) ?? MatrixOperand.Of(w.Contiguous())!.Value;

    /// <summary>y = x · W for a whole weight matrix: a view of the model's weight uses its packed copy; a contiguous copy made here never is packed.</summary>
    private void MultiplyWeight(Tensor w, ReadOnlySpan<float> x, int ldx, int rows, Span<float> y, int ldy)
    {
        if (MatrixOperand.Of(w) is { } view) view.Multiply(x, ldx, rows, y, ldy, precision: _model.Precision, packs: _model.Packs);
        else Operand(w.Contiguous()).Multiply(x, ldx, rows, y, ldy, precision: _model.Precision);
    }

    private void AddBias(float[] y, int rows, Tensor bias)
    {
        var b = bias.Contiguous().Span;
        int cols = b.Length;
        for (int r = 0; r < rows; r++) TensorPrimitives.Add(y.AsSpan(r * cols, cols), b, y.AsSpan(r * cols, cols));
    }

    private static int[,] Filled(int rows, int cols)
    {
        var a = new int[rows, cols];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++) a[i, j] = -1;
        return a;
    }
}
