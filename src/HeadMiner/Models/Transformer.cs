using HeadMiner.Tensors;
using HeadMiner.Tensors.Kernels;

namespace HeadMiner.Models;

/// <summary>
/// A decoder-only transformer run from TransformerLens-layout weights: every supported architecture is this one
/// loop, configured by <see cref="ModelConfig"/>. One forward pass:
/// embed (+ learned positions) → per block: norm1 → Q,K,V projections (+ rotary) → causal attention → W_O
/// → residual add → norm2 → MLP → residual add (attention and MLP both read the block input when
/// <see cref="ModelConfig.ParallelAttnMlp"/>) → final norm → unembed.
/// Rows of every activation buffer are tokens (batch-major); GEMMs cover the whole batch, attention runs per sequence.
/// </summary>
public sealed class Transformer : IDisposable
{
    private readonly IDisposable? _owner;
    private readonly RotaryTables? _rotary;

    public ModelConfig Config { get; }
    public TransformerWeights Weights { get; }

    /// <summary>Where the model was loaded from (for reports).</summary>
    public string Source { get; }

    /// <summary>Which weight processing was applied (TransformerLens semantics); "none" for raw checkpoint numerics.</summary>
    public WeightProcessing Processing { get; internal set; } = WeightProcessing.None;

    public Transformer(ModelConfig config, TransformerWeights weights, string source, IDisposable? owner = null)
    {
        config.Validate(source);
        Config = config;
        Weights = weights;
        Source = source;
        _owner = owner;
        if (config.RotaryDim > 0) _rotary = new RotaryTables(config.RotaryDim, config.RopeTheta, config.RopeScaling);
    }

    public RotaryTables? Rotary => _rotary;

    // ---- public entry points -----------------------------------------------------------------------------------

    /// <summary>Logits [tokens, vocab] for one sequence.</summary>
    public Tensor Forward(ReadOnlySpan<int> tokens) => Forward(TokenBatch.Single(tokens)).Reshape(tokens.Length, Config.VocabSize);

    /// <summary>Logits [batch, length, vocab], or [batch, 1, vocab] at each sequence's last real token when <paramref name="lastOnly"/>.</summary>
    public Tensor Forward(TokenBatch batch, bool lastOnly = false)
    {
        CheckRunnable();
        CheckLength(batch.Length);
        var positions = batch.Positions();
        var x = Embed(batch.Ids, positions);
        var buffers = new Buffers(Config, batch.Ids.Length);
        for (int l = 0; l < Config.Layers; l++) RunBlock(l, x, buffers, batch.Batch, batch.Length, positions, batch.Mask, cache: null);
        int[] rows = lastOnly
            ? Enumerable.Range(0, batch.Batch).Select(b => b * batch.Length + batch.LastReal(b)).ToArray()
            : Enumerable.Range(0, batch.Ids.Length).ToArray();
        return Tensor.Wrap(Unembed(x, rows), batch.Batch, lastOnly ? 1 : batch.Length, Config.VocabSize);
    }

    /// <summary>
    /// Runs <paramref name="tokens"/> after the ones already in <paramref name="cache"/> and appends their keys and
    /// values; logits [tokens, vocab] (or [1, vocab] for the last token when <paramref name="lastOnly"/>).
    /// </summary>
    public Tensor ForwardIncremental(ReadOnlySpan<int> tokens, KvCache cache, bool lastOnly = true)
    {
        CheckRunnable();
        int n = tokens.Length;
        if (n == 0) throw new HeadMinerException("no tokens to run");
        if (cache.Length + n > cache.Capacity)
            throw new HeadMinerException($"{cache.Length + n} tokens exceed the KV cache capacity {cache.Capacity} (context length {Config.ContextLength})");
        var positions = new int[n];
        for (int i = 0; i < n; i++) positions[i] = cache.Length + i;
        var x = Embed(tokens.ToArray(), positions);
        var buffers = new Buffers(Config, n);
        for (int l = 0; l < Config.Layers; l++) RunBlock(l, x, buffers, 1, n, positions, null, cache);
        cache.Length += n;
        int[] rows = lastOnly ? [n - 1] : Enumerable.Range(0, n).ToArray();
        return Tensor.Wrap(Unembed(x, rows), rows.Length, Config.VocabSize);
    }

    public void CheckLength(int tokens)
    {
        if (tokens > Config.ContextLength)
            throw new HeadMinerException($"the prompt has {tokens} tokens but {Source} supports at most {Config.ContextLength} (its context length)");
    }

    // ---- the pieces of one forward pass --------------------------------------------------------------------------

    private sealed class Buffers(ModelConfig c, int rows)
    {
        public readonly int QkvWidth = (c.Heads + 2 * c.KvHeads) * c.DHead;
        public readonly float[] Normed = new float[rows * c.DModel];
        public readonly float[] Qkv = new float[rows * (c.Heads + 2 * c.KvHeads) * c.DHead];
        public readonly float[] Z = new float[rows * c.Heads * c.DHead];
        public readonly float[] AttnOut = new float[rows * c.DModel];
        public readonly float[] MlpPre = new float[rows * c.DMlp];
        public readonly float[] MlpGate = c.Activation == MlpActivation.SwiGlu ? new float[rows * c.DMlp] : [];
        public readonly float[] MlpOut = new float[rows * c.DModel];
    }

    private float[] Embed(int[] ids, int[] positions)
    {
        int d = Config.DModel;
        var x = new float[ids.Length * d];
        var we = Weights.W_E.Contiguous();
        Embedding.Gather(we.Span, d, ids, x);
        if (Config.LearnedPositions)
        {
            var wpos = Weights.W_pos!.Contiguous().Span;
            for (int t = 0; t < ids.Length; t++)
                TensorPrimitivesAdd(x.AsSpan(t * d, d), wpos.Slice(positions[t] * d, d));
        }
        return x;
    }

    private void RunBlock(int l, float[] x, Buffers buf, int batch, int seq, int[] positions, bool[]? mask, KvCache? cache)
    {
        var c = Config;
        var w = Weights.Blocks[l];
        int rows = batch * seq, d = c.DModel;

        Normalize(x, buf.Normed, rows, w.Ln1Weight, w.Ln1Bias);
        Attention(l, w, buf, batch, seq, positions, mask, cache);
        if (c.ParallelAttnMlp)
        {
            Normalize(x, buf.Normed, rows, w.Ln2Weight, w.Ln2Bias);
            Mlp(w, buf, rows);
            AddInPlace(x, buf.AttnOut, rows * d);
            AddInPlace(x, buf.MlpOut, rows * d);
        }
        else
        {
            AddInPlace(x, buf.AttnOut, rows * d);
            Normalize(x, buf.Normed, rows, w.Ln2Weight, w.Ln2Bias);
            Mlp(w, buf, rows);
            AddInPlace(x, buf.MlpOut, rows * d);
        }
    }

    private void Attention(int l, LayerWeights w, Buffers buf, int batch, int seq, int[] positions, bool[]? mask, KvCache? cache)
    {
        var c = Config;
        int rows = batch * seq, d = c.DModel, dh = c.DHead, qw = c.Heads * dh, kvw = c.KvHeads * dh, width = buf.QkvWidth;
        var qkv = buf.Qkv.AsSpan(0, rows * width);

        ProjectHeads(buf.Normed, rows, w.W_Q, w.b_Q, qkv, 0, width);
        ProjectHeads(buf.Normed, rows, w.W_K, w.b_K, qkv, qw, width);
        ProjectHeads(buf.Normed, rows, w.W_V, w.b_V, qkv, qw + kvw, width);

        if (_rotary is not null)
        {
            _rotary.Apply(qkv, rows, width, c.Heads, dh, positions, c.RotaryStyle);
            _rotary.Apply(qkv[qw..], rows, width, c.KvHeads, dh, positions, c.RotaryStyle);
        }

        var z = buf.Z.AsSpan(0, rows * qw);
        int window = c.AttentionWindow[l];
        if (cache is null)
        {
            for (int b = 0; b < batch; b++)
            {
                var seqQkv = qkv.Slice(b * seq * width, seq * width);
                Tensors.Kernels.Attention.Forward(
                    seqQkv, width, seqQkv[qw..], seqQkv[(qw + kvw)..], width, z.Slice(b * seq * qw, seq * qw), qw,
                    seq, seq, c.Heads, c.KvHeads, dh, c.AttentionScale,
                    new AttentionMask { FirstQueryPosition = 0, SlidingWindow = window, KeyValid = mask is null ? default : mask.AsSpan(b * seq, seq) });
            }
        }
        else
        {
            // Append this step's keys and values, then attend over everything cached.
            var keys = cache.Keys(l);
            var values = cache.Values(l);
            for (int t = 0; t < seq; t++)
            {
                qkv.Slice(t * width + qw, kvw).CopyTo(keys.Slice((cache.Length + t) * kvw, kvw));
                qkv.Slice(t * width + qw + kvw, kvw).CopyTo(values.Slice((cache.Length + t) * kvw, kvw));
            }
            int total = cache.Length + seq;
            Tensors.Kernels.Attention.Forward(
                qkv, width, keys[..(total * kvw)], values[..(total * kvw)], kvw, z, qw,
                seq, total, c.Heads, c.KvHeads, dh, c.AttentionScale,
                new AttentionMask { FirstQueryPosition = cache.Length, SlidingWindow = window });
        }

        Project(z, qw, rows, MatrixOperand.OfOutput(w.W_O), w.W_O, buf.AttnOut, d);
        if (w.b_O is not null) AddBias(buf.AttnOut, rows, d, w.b_O);
    }

    private void Mlp(LayerWeights w, Buffers buf, int rows)
    {
        var c = Config;
        int d = c.DModel, m = c.DMlp;
        var pre = buf.MlpPre.AsSpan(0, rows * m);
        Project(buf.Normed, d, rows, MatrixOperand.Of(w.W_in), w.W_in, pre, m);
        if (w.b_in is not null) AddBias(pre, rows, m, w.b_in);
        switch (c.Activation)
        {
            case MlpActivation.GeluTanh: ParallelElementwise(pre, static (s, dst) => Activations.GeluTanh(s, dst)); break;
            case MlpActivation.GeluErf: ParallelElementwise(pre, static (s, dst) => Activations.GeluErf(s, dst)); break;
            case MlpActivation.SwiGlu:
                var gate = buf.MlpGate.AsSpan(0, rows * m);
                Project(buf.Normed, d, rows, MatrixOperand.Of(w.W_gate!), w.W_gate!, gate, m);
                ParallelElementwise(gate, static (s, dst) => Activations.Silu(s, dst));
                System.Numerics.Tensors.TensorPrimitives.Multiply(pre, gate, pre);
                break;
        }
        Project(pre, m, rows, MatrixOperand.Of(w.W_out), w.W_out, buf.MlpOut, d);
        if (w.b_out is not null) AddBias(buf.MlpOut, rows, d, w.b_out);
    }

    private float[] Unembed(float[] x, int[] rows)
    {
        int d = Config.DModel, v = Config.VocabSize;
        var selected = new float[rows.Length * d];
        for (int i = 0; i < rows.Length; i++) x.AsSpan(rows[i] * d, d).CopyTo(selected.AsSpan(i * d, d));
        Normalize(selected, selected, rows.Length, Weights.LnFinalWeight, Weights.LnFinalBias);
        var logits = new float[rows.Length * v];
        Project(selected, d, rows.Length, MatrixOperand.Of(Weights.W_U), Weights.W_U, logits, v);
        if (Weights.b_U is not null) AddBias(logits, rows.Length, v, Weights.b_U);
        return logits;
    }

    // ---- small helpers -------------------------------------------------------------------------------------------

    private void Normalize(ReadOnlySpan<float> x, Span<float> y, int rows, Tensor? weight, Tensor? bias)
    {
        int d = Config.DModel;
        var wSpan = weight is null ? default : weight.Contiguous().Span;
        var bSpan = bias is null ? default : bias.Contiguous().Span;
        if (Config.Norm == NormKind.LayerNorm) Norms.LayerNorm(x[..(rows * d)], y, rows, d, wSpan, bSpan, Config.NormEps);
        else Norms.RmsNorm(x[..(rows * d)], y, rows, d, wSpan, Config.NormEps);
    }

    /// <summary>dst[:, column..] = x · W for W [heads, in, d_head]; one GEMM when the heads are adjacent, else one per head.</summary>
    private static void ProjectHeads(ReadOnlySpan<float> x, int rows, Tensor w, Tensor? bias, Span<float> dst, int column, int ldDst)
    {
        int heads = w.Dim(0), inDim = w.Dim(1), dh = w.Dim(2);
        if (MatrixOperand.OfHeads(w) is { } op) op.Multiply(x, inDim, rows, dst[column..], ldDst);
        else
            for (int h = 0; h < heads; h++)
            {
                var head = w.Select(0, h);
                var headOp = MatrixOperand.Of(head) ?? MatrixOperand.Of(head.Contiguous())!.Value;
                headOp.Multiply(x, inDim, rows, dst[(column + h * dh)..], ldDst);
            }
        if (bias is null) return;
        for (int h = 0; h < heads; h++)
        {
            var b = bias.Select(0, h).Contiguous().Span;
            for (int r = 0; r < rows; r++) TensorPrimitivesAdd(dst.Slice(r * ldDst + column + h * dh, dh), b);
        }
    }

    private static void Project(ReadOnlySpan<float> x, int ldx, int rows, MatrixOperand? op, Tensor w, Span<float> y, int ldy)
    {
        var operand = op ?? MatrixOperand.Of(w.Rank == 2 ? w.Contiguous() : w.Contiguous().Reshape(-1, w.Dim(-1)))!.Value;
        operand.Multiply(x, ldx, rows, y, ldy);
    }

    private static void AddBias(Span<float> y, int rows, int cols, Tensor bias)
    {
        var b = bias.Contiguous().Span;
        for (int r = 0; r < rows; r++) TensorPrimitivesAdd(y.Slice(r * cols, cols), b);
    }

    private static void AddInPlace(Span<float> x, ReadOnlySpan<float> y, int n) =>
        System.Numerics.Tensors.TensorPrimitives.Add(x[..n], y[..n], x[..n]);

    private static void TensorPrimitivesAdd(Span<float> x, ReadOnlySpan<float> y) =>
        System.Numerics.Tensors.TensorPrimitives.Add(x, y, x);

    private delegate void SpanMap(ReadOnlySpan<float> source, Span<float> destination);

    /// <summary>Elementwise map in place, split across the worker threads (activations are a visible cost at 3072-wide MLPs).</summary>
    private static void ParallelElementwise(Span<float> data, SpanMap map)
    {
        const int chunk = 1 << 15;
        if (data.Length <= chunk || WorkerPool.MaxThreads == 1)
        {
            map(data, data);
            return;
        }
        unsafe
        {
            fixed (float* p = data)
            {
                var body = new ElementwiseBody(p, data.Length, chunk, map);
                WorkerPool.For((data.Length + chunk - 1) / chunk, body);
            }
        }
    }

    private sealed unsafe class ElementwiseBody(float* data, int length, int chunk, SpanMap map) : IParallelBody
    {
        public void Invoke(int index)
        {
            int start = index * chunk, n = Math.Min(chunk, length - start);
            var span = new Span<float>(data + start, n);
            map(span, span);
        }
    }

    private void CheckRunnable()
    {
        if (!Weights.IsRunnable)
            throw new HeadMinerException($"{Source} was loaded weights-only and lacks tensors a forward pass needs (embedding, unembedding or MLP)");
    }

    public void Dispose() => _owner?.Dispose();
}
