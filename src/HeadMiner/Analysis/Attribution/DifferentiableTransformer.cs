using HeadMiner.Models;
using HeadMiner.Tensors;
using HeadMiner.Tensors.Autodiff;

namespace HeadMiner.Analysis.Attribution;

/// <summary>
/// One forward pass recorded on a tape, with the activations gradient-based analyses read kept as
/// <see cref="Variable"/>s. Rows are sequence-major (row = sequence·T + position). After
/// <see cref="DifferentiableTransformer.Backward"/> every variable here holds d(metric)/d(itself).
/// </summary>
public sealed class DifferentiableRun
{
    public required Tape Tape { get; init; }
    public required int Sequences { get; init; }
    public required int Length { get; init; }

    /// <summary>Token (+ learned position) embedding [rows, d_model]: the graph's leaf (a resumed run's start residual).</summary>
    public required Variable Embed { get; init; }

    /// <summary>Per layer: the residual stream entering the block [rows, d_model].</summary>
    public required Variable[] ResidPre { get; init; }

    /// <summary>Per layer: queries [rows, heads·d_head] and keys/values [rows, kv_heads·d_head], before rotary.</summary>
    public required Variable[] Q { get; init; }
    public required Variable[] K { get; init; }
    public required Variable[] V { get; init; }

    /// <summary>Per layer: hook_z, the attention-weighted values [rows, heads·d_head] (head h = columns h·d_head…).</summary>
    public required Variable[] Z { get; init; }

    /// <summary>
    /// Per layer: the attention sublayer's output z·W_O + b_O, before the post-norm of a post-norm model (whose
    /// per-position scale the frozen-scale decomposition needs, <see cref="FrozenPostNorm"/>); hook_attn_out otherwise.
    /// </summary>
    public required Variable[] AttnOut { get; init; }

    /// <summary>Per layer: the residual the MLP's norm reads (resid_mid; resid_pre when attention and MLP run in parallel).</summary>
    public required Variable[] MlpInput { get; init; }

    /// <summary>
    /// Per layer: the MLP's normalised input (only the MLP reads it, so its gradient is the MLP path's alone); without
    /// pre-norms a copy of <see cref="MlpInput"/> for the same reason.
    /// </summary>
    public required Variable[] MlpNormed { get; init; }

    /// <summary>Per layer: hook_mlp_out [rows, d_model].</summary>
    public required Variable[] MlpOut { get; init; }

    /// <summary>The residual stream after the last block, before the final norm [rows, d_model].</summary>
    public required Variable ResidFinal { get; init; }

    /// <summary>Logits [rows, vocab], or [sequences, vocab] for each sequence's last position.</summary>
    public required Variable Logits { get; init; }

    public bool LastOnly { get; init; }

    /// <summary>The layer the run started at (0: from the embedding); the activations of earlier layers are null.</summary>
    public int StartLayer { get; init; }

    /// <summary>Copies of the prompt batch the run holds (one per <see cref="DifferentiableTransformer.ReceiverInput"/>; 1 without).</summary>
    public int Copies { get; init; } = 1;

    /// <summary>The receiver inputs the run was resumed with, one per copy (null without).</summary>
    public IReadOnlyList<DifferentiableTransformer.ReceiverInput>? Inputs { get; init; }
}

/// <summary>
/// The model's forward pass rebuilt from autodiff ops over any loaded model's <see cref="TransformerWeights"/> (the
/// inference weights in TransformerLens layout), so gradients of a metric reach every head and MLP output — not only
/// for the training model. <see cref="Transformer.Run"/> stays untouched: inference pays nothing for this.
/// <para>The attention weights are packed once into GEMM-ready float32 constants (W_Q [d_model, heads·d_head], W_O
/// [heads·d_head, d_model], …): one extra copy of the attention matrices. The MLP matrices, the embedding and a tied
/// unembedding are read in place, in whatever orientation the checkpoint stores them, so a 16-bit checkpoint's stay
/// 16-bit (the GEMM widens them while packing). Supported:
/// LayerNorm/RMSNorm (folded or not), GELU, SwiGLU and GeGLU MLPs, learned or rotary positions (partial, either style,
/// scaled, per layer type), grouped-query attention, sliding windows, parallel attention + MLP, QK-norm, pre- and
/// post-norms, an embedding multiplier, attention and final-logit soft caps (Gemma 2). Padding masks are not: every
/// sequence must be full length (prompt pairs are).</para>
/// </summary>
public sealed class DifferentiableTransformer
{
    /// <summary>Fixed values [rows, d_model] for layer <paramref name="Layer"/>'s attention output (or, with <paramref name="Mlp"/>, its MLP output).</summary>
    public sealed record LayerOutput(int Layer, bool Mlp, float[] Output);

    /// <summary>What one receiver of a layer reads: one head's query, key or value projection (a k/v head's for key and value), all three of a head, or the MLP's norm.</summary>
    public enum ReceiverSite
    {
        Query,
        Key,
        Value,
        HeadInputs,
        Mlp,
    }

    /// <summary>
    /// In one copy of the batch, receiver (<paramref name="Site"/>, <paramref name="Head"/>) of the start layer reads
    /// <paramref name="Input"/> [rows of one copy, d_model] instead of the residual stream; every other reader, and the
    /// residual stream itself, keep theirs. EAP-IG over receiver inputs interpolates one receiver's input at a time.
    /// </summary>
    public sealed record ReceiverInput(ReceiverSite Site, int Head, float[] Input);

    /// <summary>
    /// Where <see cref="Run"/> starts instead of the embedding: layer <paramref name="Layer"/> (the layer count: only the
    /// final norm and the unembedding run) with resid_pre <paramref name="Residual"/> [rows, d_model], a leaf when the
    /// run records gradients; with <paramref name="Inputs"/>, the batch holds Inputs.Count copies of its sequences and
    /// copy j's receiver Inputs[j] of that layer reads its own input.
    /// </summary>
    public sealed record Resume(int Layer, float[] Residual, IReadOnlyList<ReceiverInput>? Inputs = null);

    private readonly Transformer _model;
    private readonly Layer[] _layers;
    private readonly Variable _wE, _wU;
    private readonly bool _unembedTransposed;
    private readonly Variable? _wPos, _lnFinalW, _lnFinalB, _bU;

    private sealed record Layer(Variable? Ln1W, Variable? Ln1B, Variable Wq, Variable Wk, Variable Wv, Variable? Bq, Variable? Bk, Variable? Bv,
        Variable Wo, Variable? Bo, Variable? Ln2W, Variable? Ln2B, Weight WIn, Variable? BIn, Weight? WGate, Weight WOut, Variable? BOut,
        Variable? QNorm, Variable? KNorm, Variable? Ln1Post, Variable? Ln2Post);

    /// <summary>
    /// A [in, out] weight as the GEMM reads it without a copy: the view itself when it is contiguous, else its
    /// transpose when that is (an nn.Linear [out, in] matrix, e.g. Llama's MLP), multiplied transposed. The MLP
    /// matrices are most of a model's weights; read in place, a 16-bit checkpoint's stay 16-bit.
    /// </summary>
    private sealed record Weight(Variable Matrix, bool Transposed)
    {
        public static Weight Of(Tensor w) => !w.IsContiguous && w.Transpose(0, 1).IsContiguous
            ? new Weight(Variable.Constant(w.Transpose(0, 1)), true)
            : new Weight(Variable.Constant(w), false);
    }

    public ModelConfig Config => _model.Config;

    public DifferentiableTransformer(Transformer model)
    {
        ArgumentNullException.ThrowIfNull(model);
        _model = model;
        var c = model.Config;
        var w = model.Weights;
        if (!w.IsRunnable) throw new HeadMinerException($"{model.Source} was loaded weights-only; gradients need the whole model");
        _layers = new Layer[c.Layers];
        for (int l = 0; l < c.Layers; l++)
        {
            var b = w.Blocks[l];
            _layers[l] = new Layer(
                Constant(b.Ln1Weight), Constant(b.Ln1Bias),
                Variable.Constant(Heads(b.W_Q)), Variable.Constant(Heads(b.W_K)), Variable.Constant(Heads(b.W_V)),
                Constant(b.b_Q?.Contiguous().Reshape(-1)), Constant(b.b_K?.Contiguous().Reshape(-1)), Constant(b.b_V?.Contiguous().Reshape(-1)),
                Variable.Constant(b.W_O.Contiguous().Reshape(c.Heads * c.DHead, c.DModel)), Constant(b.b_O),
                Constant(b.Ln2Weight), Constant(b.Ln2Bias),
                Weight.Of(b.W_in), Constant(b.b_in), b.W_gate is null ? null : Weight.Of(b.W_gate), Weight.Of(b.W_out), Constant(b.b_out),
                Constant(b.QNormWeight), Constant(b.KNormWeight), Constant(b.Ln1PostWeight), Constant(b.Ln2PostWeight));
        }
        _wE = Variable.Constant(w.W_E);
        _wPos = c.LearnedPositions ? Constant(w.W_pos ?? throw new HeadMinerException($"{model.Source}: learned positions but no W_pos")) : null;
        // A tied unembedding is W_Eᵀ: multiply by the contiguous [vocab, d_model] table transposed instead of copying it.
        var wuT = w.W_U.Transpose(0, 1);
        _unembedTransposed = wuT.IsContiguous;
        _wU = Variable.Constant(_unembedTransposed ? wuT : w.W_U);
        _lnFinalW = Constant(w.LnFinalWeight);
        _lnFinalB = Constant(w.LnFinalBias);
        _bU = Constant(w.b_U);
    }

    private HeadMinerException MissingQkNorm(int l) => new($"{_model.Source}: blocks.{l} has no QK-norm weights, which a {Config.Architecture} model needs");

    private static Variable? Constant(Tensor? t) => t is null ? null : Variable.Constant(t);

    /// <summary>[heads, d_model, d_head] → [d_model, heads·d_head]: every head's projection in one GEMM.</summary>
    private static Tensor Heads(Tensor w) => w.Permute(1, 0, 2).Contiguous().Reshape(w.Dim(1), w.Dim(0) * w.Dim(2));

    /// <summary>
    /// Runs <paramref name="batch"/> (no padding) through the graph. With <paramref name="withGradient"/> the
    /// embedding is a leaf that needs a gradient, so every activation downstream is recorded; without, nothing is
    /// recorded and the run is a plain (slower) forward whose activations can still be read.
    /// </summary>
    /// <para><paramref name="embedding"/> [rows, d_model], when given, replaces the embedding of the tokens (token +
    /// position, after any multiplier): EAP-IG runs the model on points between two prompts' embeddings.</para>
    /// <para><paramref name="replace"/>, when given, replaces one layer's attention output (every head and b_O) or MLP output
    /// [rows, d_model] by fixed values, which nothing upstream of it then receives a gradient through: EAP-IG over
    /// activations interpolates one node's output at a time.</para>
    /// <para><paramref name="resume"/>, when given, starts the run at a layer from a given residual stream (then the
    /// run's <see cref="DifferentiableRun.Embed"/> is that residual, the leaf), optionally with one receiver of that layer
    /// per copy of the batch reading its own input (<see cref="ReceiverInputGradient"/> reads its gradient after the
    /// backward).</para>
    public DifferentiableRun Run(TokenBatch batch, bool withGradient, bool lastOnly = true, float[]? embedding = null, LayerOutput? replace = null, Resume? resume = null)
    {
        ArgumentNullException.ThrowIfNull(batch);
        if (batch.Mask is not null) throw new HeadMinerException("gradient runs need full-length sequences; this batch has padding");
        var c = Config;
        _model.CheckLength(batch.Length);
        int B = batch.Batch, T = batch.Length, rows = batch.Ids.Length;
        var tape = new Tape();
        var positions = new int[rows];
        for (int i = 0; i < rows; i++) positions[i] = i % T;

        Variable embed;
        int start = resume?.Layer ?? 0, copies = 1;
        if (resume is null)
        {
            var embedded = Ops.Embedding(tape, _wE, batch.Ids);
            if (_wPos is not null) embedded = Ops.Add(tape, embedded, Ops.Embedding(tape, _wPos, positions));
            if (c.EmbeddingMultiplier != 1)
                System.Numerics.Tensors.TensorPrimitives.Multiply(embedded.Value.Span, c.EmbeddingMultiplier, embedded.Value.Span); // as Transformer.Embed
            if (embedding is not null)
            {
                if (embedding.Length != embedded.Value.Length) throw new ArgumentException($"embedding has {embedding.Length} values, expected {embedded.Value.Length}", nameof(embedding));
                embedding.CopyTo(embedded.Value.Span);
            }
            embed = new Variable(embedded.Value, withGradient);
        }
        else
        {
            if (embedding is not null || replace is not null) throw new ArgumentException("a resumed run takes neither an embedding nor a replaced output", nameof(resume));
            if (start < 0 || start > c.Layers) throw new ArgumentOutOfRangeException(nameof(resume), start, $"the start layer must be 0 … {c.Layers}");
            if (resume.Residual.Length != rows * c.DModel) throw new ArgumentException($"the start residual has {resume.Residual.Length} values, expected {rows * c.DModel}", nameof(resume));
            if (resume.Inputs is { } inputs)
            {
                copies = inputs.Count;
                if (copies == 0 || B % copies != 0) throw new ArgumentException($"{copies} receiver inputs do not split a batch of {B} sequences into copies", nameof(resume));
                if (start == c.Layers) throw new ArgumentException("the logits' input is the start residual itself; receiver inputs are for a block", nameof(resume));
                foreach (var input in inputs)
                    if (input.Input.Length != rows / copies * c.DModel) throw new ArgumentException($"a receiver input has {input.Input.Length} values, expected {rows / copies * c.DModel}", nameof(resume));
            }
            embed = new Variable(Tensor.FromSpan(resume.Residual, rows, c.DModel), withGradient);
        }

        int L = c.Layers;
        var residPre = new Variable[L];
        var qs = new Variable[L];
        var ks = new Variable[L];
        var vs = new Variable[L];
        var zs = new Variable[L];
        var attnOut = new Variable[L];
        var mlpIn = new Variable[L];
        var mlpNormed = new Variable[L];
        var mlpOut = new Variable[L];
        var x = embed;
        var edits = resume?.Inputs;
        for (int l = start; l < L; l++)
        {
            var w = _layers[l];
            residPre[l] = x;
            var n1 = !c.PreNorm ? x : Norm(tape, x, w.Ln1W, w.Ln1B); // a post-norm block reads the residual itself
            var q = qs[l] = Linear(tape, n1, w.Wq, w.Bq);
            var k = ks[l] = Linear(tape, n1, w.Wk, w.Bk);
            vs[l] = Linear(tape, n1, w.Wv, w.Bv);
            if (edits is not null && l == start) ReadOwnHeadInputs(w, edits, q, k, vs[l]);
            if (c.QkNorm != QkNormKind.None)
            {
                // As the forward pass: Q/K (hook_q/hook_k) are the raw projections, normalised before rotary.
                int group = c.QkNorm == QkNormKind.PerHead ? c.DHead : 0;
                q = Ops.RmsNorm(tape, q, w.QNorm ?? throw MissingQkNorm(l), c.NormEps, group);
                k = Ops.RmsNorm(tape, k, w.KNorm ?? throw MissingQkNorm(l), c.NormEps, group);
            }
            if (_model.RotaryFor(l) is { } rotary)
            {
                var tables = rotary.For(T);
                q = Ops.Rotary(tape, q, c.Heads, c.DHead, c.RotaryDim, tables.Cos, tables.Sin, positions, c.RotaryStyle);
                k = Ops.Rotary(tape, k, c.KvHeads, c.DHead, c.RotaryDim, tables.Cos, tables.Sin, positions, c.RotaryStyle);
            }
            var z = zs[l] = Ops.CausalAttention(tape, q, k, vs[l], B, c.Heads, c.KvHeads, c.DHead, c.AttentionScale, c.AttentionWindow[l],
                softCap: c.AttentionSoftCap ?? 0);
            var attn = attnOut[l] = Linear(tape, z, w.Wo, w.Bo);
            if (replace is { Mlp: false } ra && ra.Layer == l) attn = attnOut[l] = Fixed(ra, rows);
            if (c.PostNorm) attn = Ops.RmsNorm(tape, attn, w.Ln1Post, c.NormEps);
            if (c.ParallelAttnMlp)
            {
                mlpIn[l] = x;
                mlpNormed[l] = Norm(tape, x, w.Ln2W, w.Ln2B);
                if (edits is not null && l == start) ReadOwnMlpInputs(w, edits, mlpNormed[l]);
                mlpOut[l] = Mlp(tape, mlpNormed[l], w);
                if (replace is { Mlp: true } rp && rp.Layer == l) mlpOut[l] = Fixed(rp, rows);
                x = Ops.Add(tape, Ops.Add(tape, x, attn), mlpOut[l]);
            }
            else
            {
                var mid = mlpIn[l] = Ops.Add(tape, x, attn);
                mlpNormed[l] = !c.PreNorm ? Ops.Copy(tape, mid) : Norm(tape, mid, w.Ln2W, w.Ln2B);
                if (edits is not null && l == start) ReadOwnMlpInputs(w, edits, mlpNormed[l]);
                mlpOut[l] = Mlp(tape, mlpNormed[l], w);
                if (c.PostNorm) mlpOut[l] = Ops.RmsNorm(tape, mlpOut[l], w.Ln2Post, c.NormEps);
                if (replace is { Mlp: true } rm && rm.Layer == l) mlpOut[l] = Fixed(rm, rows);
                x = Ops.Add(tape, mid, mlpOut[l]);
            }
        }
        var unembedRows = lastOnly ? Ops.GatherRows(tape, x, [.. Enumerable.Range(0, B).Select(b => b * T + T - 1)]) : x;
        var logits = Ops.MatMul(tape, Norm(tape, unembedRows, _lnFinalW, _lnFinalB), _wU, _unembedTransposed);
        if (_bU is not null) logits = Ops.AddRowBias(tape, logits, _bU);
        if (c.FinalLogitSoftCap is { } cap) logits = Ops.SoftCap(tape, logits, cap);
        return new DifferentiableRun
        {
            Tape = tape,
            Sequences = B,
            Length = T,
            Embed = embed,
            ResidPre = residPre,
            Q = qs,
            K = ks,
            V = vs,
            Z = zs,
            AttnOut = attnOut,
            MlpInput = mlpIn,
            MlpNormed = mlpNormed,
            MlpOut = mlpOut,
            ResidFinal = x,
            Logits = logits,
            LastOnly = lastOnly,
            StartLayer = start,
            Copies = copies,
            Inputs = resume?.Inputs,
        };
    }

    /// <summary>
    /// Copy j's receiver of a head site reads its own input: its rows of that head's projection(s) are recomputed from
    /// Norm(input) in place, before QK-norm and rotary (the tape's ops read their inputs, not their outputs, backward).
    /// </summary>
    private void ReadOwnHeadInputs(Layer w, IReadOnlyList<ReceiverInput> inputs, Variable q, Variable k, Variable v)
    {
        var c = Config;
        int rows = q.Value.Length / (c.Heads * c.DHead) / inputs.Count;
        for (int j = 0; j < inputs.Count; j++)
        {
            var input = inputs[j];
            if (input.Site == ReceiverSite.Mlp) continue;
            var scratch = new Tape();
            var own = Variable.Constant(Tensor.FromSpan(input.Input, rows, c.DModel));
            var normed = !c.PreNorm ? own : Norm(scratch, own, w.Ln1W, w.Ln1B);
            if (input.Site is ReceiverSite.Query or ReceiverSite.HeadInputs) CopyHead(Linear(scratch, normed, w.Wq, w.Bq), q, j, rows, input.Head);
            if (input.Site is ReceiverSite.Key or ReceiverSite.HeadInputs) CopyHead(Linear(scratch, normed, w.Wk, w.Bk), k, j, rows, input.Head);
            if (input.Site is ReceiverSite.Value or ReceiverSite.HeadInputs) CopyHead(Linear(scratch, normed, w.Wv, w.Bv), v, j, rows, input.Head);
        }
    }

    /// <summary>Head <paramref name="head"/>'s columns of a one-copy projection into copy <paramref name="copy"/>'s rows of <paramref name="target"/>.</summary>
    private void CopyHead(Variable projected, Variable target, int copy, int rows, int head)
    {
        int dh = Config.DHead, width = target.Value.Dim(-1);
        if ((uint)head >= (uint)(width / dh)) throw new ArgumentOutOfRangeException(nameof(head), head, $"the projection has {width / dh} heads");
        var from = projected.Value.Span;
        var to = target.Value.Span;
        for (int r = 0; r < rows; r++)
            from.Slice(r * width + head * dh, dh).CopyTo(to.Slice((copy * rows + r) * width + head * dh, dh));
    }

    /// <summary>Copy j's MLP receiver reads its own input: its rows of the MLP's normalised input are Norm(input).</summary>
    private void ReadOwnMlpInputs(Layer w, IReadOnlyList<ReceiverInput> inputs, Variable mlpNormed)
    {
        var c = Config;
        int rows = mlpNormed.Value.Length / c.DModel / inputs.Count;
        for (int j = 0; j < inputs.Count; j++)
        {
            if (inputs[j].Site != ReceiverSite.Mlp) continue;
            var own = Variable.Constant(Tensor.FromSpan(inputs[j].Input, rows, c.DModel));
            var normed = !c.PreNorm ? own : Norm(new Tape(), own, w.Ln2W, w.Ln2B);
            normed.Value.Span.CopyTo(mlpNormed.Value.Span.Slice(j * rows * c.DModel, rows * c.DModel));
        }
    }

    /// <summary>
    /// After <see cref="Backward"/> on a run resumed with receiver inputs: d(metric)/d(copy <paramref name="copy"/>'s
    /// receiver input) [rows of one copy, d_model] — the gradient of its own projection rows (or MLP norm rows) pulled
    /// back through its weights and its norm at its own input.
    /// </summary>
    public float[] ReceiverInputGradient(DifferentiableRun run, int copy)
    {
        ArgumentNullException.ThrowIfNull(run);
        var inputs = run.Inputs ?? throw new ArgumentException("the run was not resumed with receiver inputs", nameof(run));
        if ((uint)copy >= (uint)inputs.Count) throw new ArgumentOutOfRangeException(nameof(copy), copy, $"the run holds {inputs.Count} copies");
        var c = Config;
        int l = run.StartLayer, d = c.DModel, dh = c.DHead;
        int rows = run.Sequences * run.Length / run.Copies;
        var w = _layers[l];
        var input = inputs[copy];
        var dx = new float[rows * d];
        var normed = new float[rows * d];
        var pulled = new float[rows * d];
        void Pull(Variable projected, Variable weight)
        {
            if (projected.Gradient is not { } g) return;
            int width = projected.Value.Dim(-1), head = input.Head;
            // ∂/∂(this head's normalised input) = ∂projection_h · W[h]ᵀ, then back through the norm at the receiver's own input.
            Tensors.Kernels.Gemm.Multiply(false, true, rows, d, dh, 1f, g.Span[((copy * rows * width) + head * dh)..], width, weight.Value.Span[(head * dh)..], width, 0f, normed, d);
            if (c.PreNorm) NormBackward(input.Input, normed, pulled, rows, w.Ln1W);
            else normed.CopyTo(pulled);
            System.Numerics.Tensors.TensorPrimitives.Add(dx, pulled, dx);
        }
        switch (input.Site)
        {
            case ReceiverSite.Mlp:
                if (run.MlpNormed[l].Gradient is { } gm)
                {
                    var g = gm.Span.Slice(copy * rows * d, rows * d);
                    if (c.PreNorm) NormBackward(input.Input, g, dx, rows, w.Ln2W);
                    else g.CopyTo(dx);
                }
                break;
            default:
                if (input.Site is ReceiverSite.Query or ReceiverSite.HeadInputs) Pull(run.Q[l], w.Wq);
                if (input.Site is ReceiverSite.Key or ReceiverSite.HeadInputs) Pull(run.K[l], w.Wk);
                if (input.Site is ReceiverSite.Value or ReceiverSite.HeadInputs) Pull(run.V[l], w.Wv);
                break;
        }
        return dx;
    }

    private Variable Fixed(LayerOutput replace, int rows)
    {
        if (replace.Output.Length != rows * Config.DModel)
            throw new ArgumentException($"replacement output has {replace.Output.Length} values, expected {rows * Config.DModel}", nameof(replace));
        return Variable.Constant(Tensor.FromSpan(replace.Output, rows, Config.DModel));
    }

    /// <summary>Back-propagates d(metric)/d(logits) (shaped like <see cref="DifferentiableRun.Logits"/>) through the run.</summary>
    public static void Backward(DifferentiableRun run, Tensor logitsGradient)
    {
        ArgumentNullException.ThrowIfNull(run);
        if (!run.Embed.RequiresGradient) throw new InvalidOperationException("the run was made without gradients");
        run.Tape.Backward(run.Logits, logitsGradient);
    }

    private Variable Norm(Tape tape, Variable x, Variable? weight, Variable? bias) =>
        Config.Norm == NormKind.LayerNorm ? Ops.LayerNorm(tape, x, weight, bias, Config.NormEps) : Ops.RmsNorm(tape, x, weight, Config.NormEps);

    /// <summary>
    /// d(metric)/d(x) through one norm alone: the gradient <paramref name="normedGradient"/> of the norm's output
    /// pulled back to its input <paramref name="x"/> [rows, d_model] (layer −1 = the final norm).
    /// </summary>
    internal void NormBackward(ReadOnlySpan<float> x, ReadOnlySpan<float> normedGradient, Span<float> dx, int rows, Variable? weight)
    {
        var w = weight is null ? default : weight.Value.Span;
        if (Config.Norm == NormKind.LayerNorm) Tensors.Kernels.Norms.LayerNormBackward(x, normedGradient, dx, rows, Config.DModel, w, Config.NormEps);
        else Tensors.Kernels.Norms.RmsNormBackward(x, normedGradient, dx, rows, Config.DModel, w, Config.NormEps);
    }

    internal (Variable? Ln1W, Variable? Ln2W, Variable Wq, Variable Wk, Variable Wv, Variable Wo, Variable? Bo, Variable? Ln1Post) LayerParts(int l)
    {
        var w = _layers[l];
        return (w.Ln1W, w.Ln2W, w.Wq, w.Wk, w.Wv, w.Wo, w.Bo, w.Ln1Post);
    }

    private static Variable Linear(Tape tape, Variable x, Variable w, Variable? bias)
    {
        var y = Ops.MatMul(tape, x, w);
        return bias is null ? y : Ops.AddRowBias(tape, y, bias);
    }

    private static Variable Linear(Tape tape, Variable x, Weight w, Variable? bias)
    {
        var y = Ops.MatMul(tape, x, w.Matrix, w.Transposed);
        return bias is null ? y : Ops.AddRowBias(tape, y, bias);
    }

    private Variable Mlp(Tape tape, Variable n2, Layer w)
    {
        var pre = Linear(tape, n2, w.WIn, w.BIn);
        var hidden = Config.Activation switch
        {
            MlpActivation.GeluTanh => Ops.GeluTanh(tape, pre),
            MlpActivation.GeluErf => Ops.GeluErf(tape, pre),
            MlpActivation.GeGluTanh => Ops.GeGlu(tape, Linear(tape, n2, w.WGate ?? throw new HeadMinerException($"{_model.Source}: a GeGLU MLP needs W_gate"), null), pre),
            _ => Ops.SwiGlu(tape, Linear(tape, n2, w.WGate ?? throw new HeadMinerException($"{_model.Source}: a SwiGLU MLP needs W_gate"), null), pre),
        };
        return Linear(tape, hidden, w.WOut, w.BOut);
    }
}
