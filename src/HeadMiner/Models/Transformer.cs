using HeadMiner.Tensors;
using HeadMiner.Tensors.Kernels;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace HeadMiner.Models;

/// <summary>What one forward pass produced.</summary>
public sealed class ForwardResult(Tensor? logits, float[] residual, bool residualComplete = true)
{
    /// <summary>Logits [B, T or 1, vocab]; null when the run stopped before the last layer.</summary>
    public Tensor? Logits { get; } = logits;

    /// <summary>
    /// The residual stream [B·T, d] where the run stopped (resid_post of its last block). Not available after a run
    /// that unembedded only some rows with no hook on the last block: that block then ran at those rows alone.
    /// </summary>
    public float[] Residual => residualComplete
        ? residual
        : throw new InvalidOperationException("this run computed its last block only at the rows it unembedded (LastOnly / LogitPositions, no hook on that block); run with all logits, or a hook on the last block, for the whole residual");
}

/// <summary>
/// A decoder-only transformer run from TransformerLens-layout weights: every supported architecture is this one
/// loop, configured by <see cref="ModelConfig"/>. One forward pass:
/// embed (+ learned positions) → per block: norm1 → Q,K,V projections (+ QK-norm, rotary) → causal attention → W_O
/// → residual add → norm2 → MLP → residual add (attention and MLP both read the block input when
/// <see cref="ModelConfig.ParallelAttnMlp"/>; without <see cref="ModelConfig.PreNorm"/> there is no norm1/norm2, and
/// with <see cref="ModelConfig.PostNorm"/> each sublayer's output is normalised before its residual add) → final norm → unembed.
/// Rows of every activation buffer are tokens (batch-major); GEMMs cover the whole batch, attention runs per sequence.
/// Each <see cref="ActivationSite"/> is offered to <see cref="ForwardOptions.Hooks"/>; what no hook wants is not built.
/// </summary>
public sealed class Transformer : IDisposable
{
    private readonly IDisposable? _owner;
    private readonly RotaryTables? _rotary, _localRotary;

    public ModelConfig Config { get; }
    public TransformerWeights Weights { get; }

    /// <summary>Where the model was loaded from (for reports).</summary>
    public string Source { get; }

    /// <summary>Which weight processing was applied (TransformerLens semantics); "none" for raw checkpoint numerics.</summary>
    public WeightProcessing Processing { get; internal set; } = WeightProcessing.None;

    /// <summary>
    /// The arithmetic of the weight products (every projection and the unembedding) in the forward passes of this
    /// model; <see cref="ArithmeticPrecision.Fp32"/> unless a caller (the CLI's --precision) asks for bf16. Norms,
    /// attention and the residual stream stay float32 either way.
    /// </summary>
    public ArithmeticPrecision Precision { get; set; } = ArithmeticPrecision.Fp32;

    private readonly PackedWeights _packs = new(DefaultPackedWeightBudget());

    /// <summary>The model's float32 weight matrices packed for the GEMM (for its own forward and PatchedForward).</summary>
    internal PackedWeights Packs => _packs;

    /// <summary>
    /// Bytes of float32 weight matrices the forward may keep packed in the GEMM's panel layout, so a product of few
    /// rows (up to 96 tokens in all; a prompt of 16–32 tokens runs in 0.7–0.8× the time) skips packing them every call:
    /// GPT-2 small needs about 500 MB, allocated on the second such forward (one forward alone packs nothing). Default 1 GiB, or
    /// the HEADMINER_PACKED_WEIGHTS_MB environment variable; 0 turns packing off. 16-bit weights are never packed.
    /// </summary>
    public long PackedWeightBudgetBytes
    {
        get => _packs.BudgetBytes;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            _packs.BudgetBytes = value;
            if (_packs.PackedBytes > value) _packs.Clear();
        }
    }

    /// <summary>Bytes the packed weight matrices take now (see <see cref="PackedWeightBudgetBytes"/>).</summary>
    public long PackedWeightBytes => _packs.PackedBytes;

    /// <summary>
    /// Call after editing any weight in place (through a tensor's span): the forward's packed copies of the float32
    /// weight matrices are dropped and made again from the edited weights on the next forward.
    /// </summary>
    public void WeightsChanged() => _packs.Clear();

    private static long DefaultPackedWeightBudget()
    {
        var setting = Environment.GetEnvironmentVariable("HEADMINER_PACKED_WEIGHTS_MB");
        if (string.IsNullOrWhiteSpace(setting)) return PackedWeights.DefaultBudgetBytes;
        if (!long.TryParse(setting, out long mb) || mb < 0)
            throw new HeadMinerException($"HEADMINER_PACKED_WEIGHTS_MB = \"{setting}\": expected a number of megabytes (0 turns weight packing off)");
        return mb << 20;
    }

    public Transformer(ModelConfig config, TransformerWeights weights, string source, IDisposable? owner = null)
    {
        config.Validate(source);
        Config = config;
        Weights = weights;
        Source = source;
        _owner = owner;
        if (config.RotaryDim > 0)
        {
            _rotary = new RotaryTables(config.RotaryDim, config.RopeTheta, config.RopeScaling, config.LongRope, config.RopeLinearFactor);
            // Gemma 3: sliding layers have their own base and no scaling; one table per distinct setting.
            if (config.LocalRopeTheta is { } local) _localRotary = new RotaryTables(config.RotaryDim, local, null);
        }
    }

    /// <summary>The rotary tables of the global layers (every layer unless <see cref="ModelConfig.LocalRopeTheta"/>).</summary>
    public RotaryTables? Rotary => _rotary;

    /// <summary>The rotary tables layer <paramref name="layer"/> rotates its queries and keys with.</summary>
    public RotaryTables? RotaryFor(int layer) => Config.UsesLocalRope(layer) ? _localRotary : _rotary;

    // ---- public entry points -----------------------------------------------------------------------------------

    private static readonly AsyncLocal<PrefixReuse?> s_prefixReuse = new();

    /// <summary>
    /// Until the returned scope is disposed, runs of this model on the current async flow reuse unhooked prefixes of
    /// earlier runs of the same tokens (<see cref="PrefixReuse"/>); the scope's counters say how many blocks were
    /// skipped. Scopes do not nest: an inner one replaces the outer until it ends.
    /// </summary>
    public PrefixReuseScope ReusePrefixes(long maxFloats = PrefixReuse.DefaultMaxFloats)
    {
        var previous = s_prefixReuse.Value;
        var reuse = new PrefixReuse(this, maxFloats);
        s_prefixReuse.Value = reuse;
        return new PrefixReuseScope(reuse, () => s_prefixReuse.Value = previous);
    }

    /// <summary>Logits [tokens, vocab] for one sequence.</summary>
    public Tensor Forward(ReadOnlySpan<int> tokens) => Forward(TokenBatch.Single(tokens)).Reshape(tokens.Length, Config.VocabSize);

    /// <summary>Logits [batch, length, vocab], or [batch, 1, vocab] at each sequence's last real token when <paramref name="lastOnly"/>.</summary>
    public Tensor Forward(TokenBatch batch, bool lastOnly = false) => Run(batch, new ForwardOptions { LastOnly = lastOnly }).Logits!;

    /// <summary>A forward pass with hooks, partial layer ranges and resumption (see <see cref="ForwardOptions"/>).</summary>
    public ForwardResult Run(TokenBatch batch, ForwardOptions options)
    {
        int end = options.EndLayer ?? Config.Layers;
        if (options.StartLayer < 0 || options.StartLayer > end || end > Config.Layers)
            throw new HeadMinerException($"layer range [{options.StartLayer}, {end}) is outside the model's {Config.Layers} layers");
        CheckLength(options.PrefixLength + batch.Length);
        if (end == Config.Layers) CheckRunnable();
        if (options.PrefixLength > 0 && (options.PrefixKeysValues is null || batch.Mask is not null || options.StartResidual is null))
            throw new HeadMinerException("a prefix run needs the prefix keys/values and a resume residual, and takes no padding mask");
        var positions = batch.Positions();
        if (options.PrefixLength > 0)
            for (int i = 0; i < positions.Length; i++) positions[i] += options.PrefixLength;
        int rows = batch.Ids.Length, d = Config.DModel;
        var hooks = options.Hooks;
        float[] x;
        int startLayer = options.StartLayer;
        // Inside a ReusePrefixes scope a plain run stores its unhooked layers' inputs and resumes above them next time.
        var reuse = s_prefixReuse.Value is { } scope && scope.Model == this && options.StartResidual is null && options.PrefixLength == 0 ? scope : null;
        int firstHooked = reuse is null ? 0 : Math.Min(PrefixReuse.FirstHookedLayer(hooks, Config), end);
        if (options.StartResidual is { } start)
        {
            if (start.Length != rows * d) throw new HeadMinerException($"resume residual has {start.Length} values, expected {rows}×{d}");
            x = (float[])start.Clone();
        }
        else if (reuse?.Find(batch, firstHooked) is { } stored)
        {
            (startLayer, x) = stored;
            reuse.Count(end - startLayer, startLayer);
        }
        else
        {
            if (options.StartLayer != 0) throw new HeadMinerException($"starting at layer {options.StartLayer} needs that layer's residual stream");
            x = Embed(batch, positions, hooks);
            reuse?.Count(end, 0);
        }
        int[]? selected = null;
        if (end == Config.Layers)
        {
            if (options.LastOnly && options.LogitPositions is not null) throw new ArgumentException("LastOnly and LogitPositions exclude each other");
            if (options.LogitPositions is { } wanted)
            {
                foreach (int p in wanted)
                    if (p < 0 || p >= batch.Length) throw new HeadMinerException($"logit position {p} is outside the sequence [0, {batch.Length})");
            }
            selected = options.LastOnly
                ? Enumerable.Range(0, batch.Batch).Select(b => b * batch.Length + batch.LastReal(b)).ToArray()
                : options.LogitPositions is { } positionsWanted
                    ? Enumerable.Range(0, batch.Batch).SelectMany(b => positionsWanted.Select(p => b * batch.Length + p)).ToArray()
                    : Enumerable.Range(0, rows).ToArray();
        }
        // Only some rows are unembedded and nothing reads the last block: it runs at those rows alone. Not with LongRoPE,
        // whose rotary factors depend on the whole pass's length (a row alone would pick them by its own position).
        // Every sequence reads the same positions then (unpadded, LastOnly or one LogitPositions list); they must leave
        // some of it out, since the block runs over their span [lo, hi].
        int lo = selected?.Min(r => r % batch.Length) ?? 0, hi = selected?.Max(r => r % batch.Length) ?? 0;
        bool lastBlockAtRows = selected is not null && hi - lo + 1 < batch.Length && startLayer < end && batch.Mask is null
            && options.PrefixLength == 0 && Config.LongRope is null && !WantsAnything(hooks, Config.Layers - 1);
        var buffers = TakeBuffers(rows);
        var context = new RunContext(batch, positions, hooks, null) { PrefixLength = options.PrefixLength, Prefix = options.PrefixKeysValues };
        for (int l = startLayer; l < end; l++)
        {
            if (reuse is not null && l >= 1 && l <= firstHooked && l < Config.Layers) reuse.Store(batch, l, x);
            if (lastBlockAtRows && l == Config.Layers - 1) break;
            RunBlock(l, x, buffers, context);
        }
        float[]? finalRows = lastBlockAtRows ? LastBlockAtRows(x, selected!, lo, hi, buffers, context) : null;
        ReturnBuffers(buffers);
        if (selected is null) return new ForwardResult(null, x);
        var logits = finalRows is not null
            ? Unembed(finalRows, [.. Enumerable.Range(0, selected.Length)], hooks, batch.Batch, options.UncappedLogits)
            : Unembed(x, selected, hooks, batch.Batch, options.UncappedLogits);
        int perSequence = options.LastOnly ? 1 : options.LogitPositions?.Length ?? batch.Length;
        return new ForwardResult(Tensor.FromMemory(logits, batch.Batch, perSequence, Config.VocabSize), x, residualComplete: finalRows is null);
    }

    private static readonly ActivationSite[] s_allSites = Enum.GetValues<ActivationSite>();

    private static bool WantsAnything(IActivationHooks? hooks, int layer) => hooks is not null && s_allSites.Any(site => hooks.Wants(site, layer));

    /// <summary>
    /// The last block at rows <paramref name="selected"/> only (their final residual, [selected, d]; every sequence's
    /// read positions lie in [<paramref name="lo"/>, <paramref name="hi"/>]), given its input
    /// <paramref name="x"/> at every row: the keys and values of every position are computed as the block computes
    /// them, then the span of positions the selected rows cover runs the whole block as a prefix run over those keys
    /// and values. On an ablation or patching run read at the last position that is one row per prompt; on a loss over
    /// the second half of each prompt, that half.
    /// </summary>
    private float[] LastBlockAtRows(float[] x, int[] selected, int lo, int hi, Buffers buffers, RunContext context)
    {
        var c = Config;
        int l = c.Layers - 1, rows = context.Rows, T = context.T, d = c.DModel, kvw = c.KvHeads * c.DHead, qw = c.Heads * c.DHead;
        var w = Weights.Blocks[l];
        var plain = context with { Hooks = null };
        if (!c.PreNorm) x.AsSpan(0, rows * d).CopyTo(buffers.Normed);
        else Normalize(x, buffers.Normed, rows, w.Ln1Weight, w.Ln1Bias, buffers, plain, ActivationSite.Ln1Scale, ActivationSite.Ln1Normalized, l);
        ProjectQkv(l, w, x, buffers, plain);
        int width = buffers.QkvWidth;
        var keys = new float[rows * kvw];
        var values = new float[rows * kvw];
        for (int r = 0; r < rows; r++)
        {
            buffers.Qkv.AsSpan(r * width + qw, kvw).CopyTo(keys.AsSpan(r * kvw, kvw));
            buffers.Qkv.AsSpan(r * width + qw + kvw, kvw).CopyTo(values.AsSpan(r * kvw, kvw));
        }
        // One run covers every sequence's read positions: [lo, hi] of each, as sequences of hi − lo + 1 tokens after a
        // prefix of lo.
        int span = hi - lo + 1, B = context.B;
        var ids = new int[B * span];
        var input = new float[B * span * d];
        var positions = new int[B * span];
        for (int b = 0; b < B; b++)
            for (int t = 0; t < span; t++)
            {
                int row = b * T + lo + t, at = b * span + t;
                ids[at] = context.Batch.Ids[row];
                positions[at] = context.Positions[row];
                x.AsSpan(row * d, d).CopyTo(input.AsSpan(at * d, d));
            }
        var step = new RunContext(new TokenBatch(ids, B, span), positions, null, null)
        {
            PrefixLength = lo,
            // The whole pass's attention ran T queries per sequence: the same score path gives the same bits.
            AttentionPathQueries = T,
            Prefix = (_, b) => (keys.AsMemory(b * T * kvw, lo * kvw), values.AsMemory(b * T * kvw, lo * kvw)),
        };
        RunBlock(l, input, new Buffers(c, B * span), step);
        var result = new float[selected.Length * d];
        for (int i = 0; i < selected.Length; i++)
        {
            int row = selected[i], at = row / T * span + row % T - lo;
            input.AsSpan(at * d, d).CopyTo(result.AsSpan(i * d, d));
        }
        return result;
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
        var batch = TokenBatch.Single(tokens);
        var positions = new int[n];
        for (int i = 0; i < n; i++) positions[i] = cache.Length + i;
        var x = Embed(batch, positions, null);
        var buffers = new Buffers(Config, n);
        var context = new RunContext(batch, positions, null, cache);
        for (int l = 0; l < Config.Layers; l++) RunBlock(l, x, buffers, context);
        cache.Length += n;
        int[] rows = lastOnly ? [n - 1] : Enumerable.Range(0, n).ToArray();
        return Tensor.FromMemory(Unembed(x, rows, null, 1), rows.Length, Config.VocabSize);
    }

    public void CheckLength(int tokens)
    {
        if (tokens > Config.ContextLength)
            throw new HeadMinerException($"the prompt has {tokens} tokens but {Source} supports at most {Config.ContextLength} (its context length)");
    }

    // ---- the pieces of one forward pass --------------------------------------------------------------------------

    private sealed record RunContext(TokenBatch Batch, int[] Positions, IActivationHooks? Hooks, KvCache? Cache)
    {
        public int PrefixLength { get; init; }
        public Func<int, int, (ReadOnlyMemory<float> Keys, ReadOnlyMemory<float> Values)>? Prefix { get; init; }

        /// <summary>The query count attention picks its score path by (<see cref="AttentionMask.PathQueries"/>; 0: the call's own).</summary>
        public int AttentionPathQueries { get; init; }

        public int B => Batch.Batch;
        public int T => Batch.Length;
        public int Rows => Batch.Ids.Length;
        public bool Wants(ActivationSite site, int layer) => Hooks is not null && Hooks.Wants(site, layer);
    }

    /// <summary>
    /// The last run's scratch buffers: sweeps and causal checks make hundreds of runs of one size, and a new set per
    /// run (hundreds of MiB on a 1B model) would leave the garbage collector gigabytes behind. A run takes the set (so
    /// concurrent runs never share one) and leaves it for the next. A set of up to <see cref="StrongSpareBytes"/> is
    /// held strongly: held weakly, it died in the gen-2 collection that each forward's large logits trigger, so every
    /// forward allocated its buffers again, and fresh memory is slow (each 4 KiB page faults; 12.6 µs apiece on this
    /// project's KVM guests). A larger set is held weakly, so one big run does not pin its memory.
    /// </summary>
    private object? _spareBuffers;

    private const long StrongSpareBytes = 128L << 20;

    private Buffers TakeBuffers(int rows)
    {
        object? spare = Interlocked.Exchange(ref _spareBuffers, null);
        var buffers = spare as Buffers ?? (spare is WeakReference<Buffers> weak && weak.TryGetTarget(out var held) ? held : null);
        return buffers is not null && buffers.Rows == rows ? buffers : new Buffers(Config, rows);
    }

    private void ReturnBuffers(Buffers buffers) =>
        Volatile.Write(ref _spareBuffers, buffers.Bytes <= StrongSpareBytes ? buffers : new WeakReference<Buffers>(buffers));

    private sealed class Buffers(ModelConfig c, int rows)
    {
        public readonly int Rows = rows;
        public readonly int QkvWidth = (c.Heads + 2 * c.KvHeads) * c.DHead;
        public readonly float[] Normed = HugePageArrays.Zeroed(rows * c.DModel);
        public readonly float[] Qkv = HugePageArrays.Zeroed(rows * (c.Heads + 2 * c.KvHeads) * c.DHead);
        public readonly float[] Z = HugePageArrays.Zeroed(rows * c.Heads * c.DHead);
        public readonly float[] AttnOut = HugePageArrays.Zeroed(rows * c.DModel);
        public readonly float[] MlpPre = HugePageArrays.Zeroed(rows * c.DMlp);
        public readonly float[] MlpGate = c.GatedMlp ? HugePageArrays.Zeroed(rows * c.DMlp) : [];
        public readonly float[] MlpOut = HugePageArrays.Zeroed(rows * c.DModel);
        public readonly float[] Scale = new float[rows];

        /// <summary>Bytes of the fixed buffers (the per-head split buffers come and go with their runs).</summary>
        public long Bytes => 4L * (Normed.Length + Qkv.Length + Z.Length + AttnOut.Length + MlpPre.Length + MlpGate.Length + MlpOut.Length + Scale.Length);

        /// <summary>Per-head q/k/v inputs (rows × heads × d_model) and one head's input, normalised and not, made on first use and reused by every layer of the run.</summary>
        public float[]? SplitInputs, SplitHeadInput, SplitNormed;
    }

    private static void Visit(RunContext ctx, ActivationSite site, int layer, float[] buffer, params int[] shape)
    {
        if (ctx.Wants(site, layer)) ctx.Hooks!.Visit(site, layer, Tensor.FromMemory(buffer.AsMemory(), shape));
    }

    private float[] Embed(TokenBatch batch, int[] positions, IActivationHooks? hooks)
    {
        int d = Config.DModel, rows = batch.Ids.Length;
        var x = new float[rows * d];
        GatherRows(Weights.W_E, d, batch.Ids, x);
        // Gemma's √d_model; before hook_embed, where TransformerLens (which folds it into W_E) shows it too.
        if (Config.EmbeddingMultiplier != 1) TensorPrimitives.Multiply(x, Config.EmbeddingMultiplier, x);
        var ctx = new RunContext(batch, positions, hooks, null);
        Visit(ctx, ActivationSite.Embed, -1, x, batch.Batch, batch.Length, d);
        if (Config.LearnedPositions)
        {
            var pos = new float[rows * d];
            GatherRows(Weights.W_pos!, d, positions.AsSpan(0, rows), pos);
            Visit(ctx, ActivationSite.PosEmbed, -1, pos, batch.Batch, batch.Length, d);
            TensorPrimitives.Add(x, pos, x);
        }
        return x;
    }

    /// <summary>Rows <paramref name="ids"/> of an embedding table; a 16-bit table widens only those rows.</summary>
    private static void GatherRows(Tensor table, int d, ReadOnlySpan<int> ids, Span<float> output)
    {
        if (table.Half is { } half && table.IsContiguous) Embedding.Gather(half.Bits.Span.Slice(table.Offset, table.Length), half.Format, d, ids, output);
        else Embedding.Gather(table.Contiguous().Span, d, ids, output);
    }

    private void RunBlock(int l, float[] x, Buffers buf, RunContext ctx)
    {
        var c = Config;
        var w = Weights.Blocks[l];
        int rows = ctx.Rows, d = c.DModel;

        Visit(ctx, ActivationSite.ResidPre, l, x, ctx.B, ctx.T, d);
        if (!c.PreNorm) x.AsSpan(0, rows * d).CopyTo(buf.Normed); // no norm before the sublayer: it reads the residual itself
        else Normalize(x, buf.Normed, rows, w.Ln1Weight, w.Ln1Bias, buf, ctx, ActivationSite.Ln1Scale, ActivationSite.Ln1Normalized, l);
        Attention(l, w, x, buf, ctx);
        if (c.PostNorm)
            NormalizeInto(buf.AttnOut, buf.AttnOut, rows, w.Ln1PostWeight ?? throw MissingPostNorm(l, "ln1_post"), null, buf.Scale, ctx.Hooks, ctx.B,
                ActivationSite.Ln1PostScale, ActivationSite.Ln1PostNormalized, l);
        Visit(ctx, ActivationSite.AttnOut, l, buf.AttnOut, ctx.B, ctx.T, d);
        if (c.ParallelAttnMlp)
        {
            MlpInput(l, x, w, buf, ctx);
            Mlp(l, w, buf, ctx);
            TensorPrimitives.Add(x.AsSpan(0, rows * d), buf.AttnOut.AsSpan(0, rows * d), x.AsSpan(0, rows * d));
            TensorPrimitives.Add(x.AsSpan(0, rows * d), buf.MlpOut.AsSpan(0, rows * d), x.AsSpan(0, rows * d));
        }
        else
        {
            TensorPrimitives.Add(x.AsSpan(0, rows * d), buf.AttnOut.AsSpan(0, rows * d), x.AsSpan(0, rows * d));
            Visit(ctx, ActivationSite.ResidMid, l, x, ctx.B, ctx.T, d);
            MlpInput(l, x, w, buf, ctx);
            Mlp(l, w, buf, ctx);
            TensorPrimitives.Add(x.AsSpan(0, rows * d), buf.MlpOut.AsSpan(0, rows * d), x.AsSpan(0, rows * d));
        }
        Visit(ctx, ActivationSite.ResidPost, l, x, ctx.B, ctx.T, d);
    }

    /// <summary>
    /// The MLP's input into buf.Normed: ln2 of the residual (resid_mid; resid_pre in a parallel block), or the residual
    /// itself without a pre-norm. When a hook wants hook_mlp_in the MLP reads its own copy of the residual, offered
    /// first, so a hook can change what the MLP sees without changing the residual stream.
    /// </summary>
    private void MlpInput(int l, float[] x, LayerWeights w, Buffers buf, RunContext ctx)
    {
        int rows = ctx.Rows, d = Config.DModel;
        var input = x;
        if (ctx.Wants(ActivationSite.MlpIn, l))
        {
            input = x.AsSpan(0, rows * d).ToArray();
            Visit(ctx, ActivationSite.MlpIn, l, input, ctx.B, ctx.T, d);
        }
        if (!Config.PreNorm) input.AsSpan(0, rows * d).CopyTo(buf.Normed);
        else Normalize(input, buf.Normed, rows, w.Ln2Weight, w.Ln2Bias, buf, ctx, ActivationSite.Ln2Scale, ActivationSite.Ln2Normalized, l);
    }

    private void Attention(int l, LayerWeights w, float[] residual, Buffers buf, RunContext ctx)
    {
        var c = Config;
        int rows = ctx.Rows, B = ctx.B, T = ctx.T, dh = c.DHead, H = c.Heads, G = c.KvHeads;
        int qw = H * dh, kvw = G * dh, width = buf.QkvWidth;
        var qkvMemory = buf.Qkv.AsMemory(0, rows * width);
        var qkv = qkvMemory.Span;
        if (ZIsSupplied(l, ctx))
        {
            buf.Z.AsSpan(0, rows * qw).Clear();
            Visit(ctx, ActivationSite.Z, l, buf.Z, B, T, H, dh);
            OutputProjection(l, w, buf, ctx);
            return;
        }

        ProjectQkv(l, w, residual, buf, ctx);

        var z = buf.Z.AsSpan(0, rows * qw);
        int window = c.AttentionWindow[l];
        float softCap = c.AttentionSoftCap ?? 0;
        var cache = ctx.Cache;
        if (cache is not null)
        {
            // Append this step's keys and values, then attend over everything cached.
            var keys = cache.Keys(l);
            var values = cache.Values(l);
            for (int t = 0; t < T; t++)
            {
                qkv.Slice(t * width + qw, kvw).CopyTo(keys.Slice((cache.Length + t) * kvw, kvw));
                qkv.Slice(t * width + qw + kvw, kvw).CopyTo(values.Slice((cache.Length + t) * kvw, kvw));
            }
            int total = cache.Length + T;
            Tensors.Kernels.Attention.Forward(
                qkv, width, keys[..(total * kvw)], values[..(total * kvw)], kvw, z, qw,
                T, total, H, G, dh, c.AttentionScale,
                new AttentionMask { FirstQueryPosition = cache.Length, SlidingWindow = window }, softCap: softCap);
        }
        else
        {
            // Per sequence: keys/values are this batch's rows, after the prefix's (when resuming a prefix run).
            int P = ctx.PrefixLength, K = P + T;
            bool unfused = ctx.Wants(ActivationSite.AttnScores, l) || ctx.Wants(ActivationSite.Pattern, l);
            var scores = unfused ? new float[B * H * T * K] : null;
            var kv = P > 0 ? new float[2 * K * kvw] : null;
            int kvStride = P > 0 ? kvw : width;
            ReadOnlySpan<float> Keys(int b, Span<float> seq) => P > 0 ? kv.AsSpan(0, K * kvw) : seq[qw..];
            ReadOnlySpan<float> Values(int b, Span<float> seq) => P > 0 ? kv.AsSpan(K * kvw, K * kvw) : seq[(qw + kvw)..];
            for (int b = 0; b < B; b++)
            {
                var seq = qkv.Slice(b * T * width, T * width);
                if (P > 0) AssemblePrefixKv(ctx, l, b, seq, kv!, P, T, kvw, qw, width);
                var mask = Mask(ctx, b, window);
                if (unfused)
                    Tensors.Kernels.Attention.Scores(seq, width, Keys(b, seq), kvStride, scores.AsSpan(b * H * T * K, H * T * K), T, K, H, G, dh, c.AttentionScale, mask, softCap);
                else
                    Tensors.Kernels.Attention.Forward(seq, width, Keys(b, seq), Values(b, seq), kvStride, z.Slice(b * T * qw, T * qw), qw,
                        T, K, H, G, dh, c.AttentionScale, mask, softCap: softCap);
            }
            if (unfused)
            {
                // Unfused: scores and pattern exist as tensors a hook can read or overwrite.
                Visit(ctx, ActivationSite.AttnScores, l, scores!, B, H, T, K);
                var pattern = new float[scores!.Length];
                for (int b = 0; b < B; b++)
                    Tensors.Kernels.Attention.ScoresToPattern(scores.AsSpan(b * H * T * K, H * T * K), pattern.AsSpan(b * H * T * K, H * T * K), H, T, K, Mask(ctx, b, window));
                Visit(ctx, ActivationSite.Pattern, l, pattern, B, H, T, K);
                for (int b = 0; b < B; b++)
                {
                    var seq = qkv.Slice(b * T * width, T * width);
                    if (P > 0) AssemblePrefixKv(ctx, l, b, seq, kv!, P, T, kvw, qw, width);
                    Tensors.Kernels.Attention.ApplyPattern(pattern.AsSpan(b * H * T * K, H * T * K), Values(b, seq), kvStride, z.Slice(b * T * qw, T * qw), qw, T, K, H, G, dh);
                }
            }
        }
        Visit(ctx, ActivationSite.Z, l, buf.Z, B, T, H, dh);
        OutputProjection(l, w, buf, ctx);
    }

    /// <summary>
    /// Queries, keys and values of every row into buf.Qkv ([rows, q | k | v]): the projections (through the split
    /// inputs when a hook wants them, else one fused GEMM where the weights allow), biases, QK-norm and rotary, with
    /// their hooks.
    /// </summary>
    private void ProjectQkv(int l, LayerWeights w, float[] residual, Buffers buf, RunContext ctx)
    {
        var c = Config;
        int rows = ctx.Rows, B = ctx.B, d = c.DModel, dh = c.DHead, H = c.Heads, G = c.KvHeads;
        int qw = H * dh, kvw = G * dh, width = buf.QkvWidth;
        var qkvMemory = buf.Qkv.AsMemory(0, rows * width);
        var qkv = qkvMemory.Span;

        bool split = ctx.Wants(ActivationSite.QInput, l) || ctx.Wants(ActivationSite.KInput, l) || ctx.Wants(ActivationSite.VInput, l);
        if (split)
        {
            // TransformerLens's split inputs: each head reads its own copy of resid_pre, normalised on its own, so a
            // hook can change what one head's query/key/value sees (path patching to receivers).
            SplitProjection(l, ActivationSite.QInput, residual, w.W_Q, w.b_Q, H, 0, w, buf, ctx);
            SplitProjection(l, ActivationSite.KInput, residual, w.W_K, w.b_K, G, qw, w, buf, ctx);
            SplitProjection(l, ActivationSite.VInput, residual, w.W_V, w.b_V, G, qw + kvw, w, buf, ctx);
        }
        else if (MatrixOperand.OfHeads(w.W_Q) is { } oq && MatrixOperand.OfHeads(w.W_K) is { } ok && MatrixOperand.OfHeads(w.W_V) is { } ov
            && MatrixOperand.ConcatColumns(oq, ok, ov) is { } fused)
        {
            // One GEMM for Q, K and V when the checkpoint stores them side by side (the qkv buffer has the same layout).
            fused.Multiply(buf.Normed, d, rows, qkv, width, precision: Precision, packs: _packs);
            AddHeadBias(qkv, rows, w.b_Q, 0, width);
            AddHeadBias(qkv, rows, w.b_K, qw, width);
            AddHeadBias(qkv, rows, w.b_V, qw + kvw, width);
        }
        else
        {
            ProjectHeads(buf.Normed, rows, w.W_Q, w.b_Q, qkv, 0, width);
            ProjectHeads(buf.Normed, rows, w.W_K, w.b_K, qkv, qw, width);
            ProjectHeads(buf.Normed, rows, w.W_V, w.b_V, qkv, qw + kvw, width);
        }
        VisitHeads(ctx, ActivationSite.Q, l, qkvMemory, 0, H, width);
        VisitHeads(ctx, ActivationSite.K, l, qkvMemory, qw, G, width);
        VisitHeads(ctx, ActivationSite.V, l, qkvMemory, qw + kvw, G, width);
        if (c.QkNorm != QkNormKind.None)
        {
            // hook_q/hook_k above are the raw projections; the norm comes after them and before rotary (HF order).
            QkNormalization.Apply(qkv, rows, width, 0, H, dh, w.QNormWeight ?? throw MissingQkNorm(l, "q_norm"), c.QkNorm, c.NormEps,
                ctx.Hooks, ActivationSite.QNormScale, ActivationSite.QNormNormalized, l, B);
            QkNormalization.Apply(qkv, rows, width, qw, G, dh, w.KNormWeight ?? throw MissingQkNorm(l, "k_norm"), c.QkNorm, c.NormEps,
                ctx.Hooks, ActivationSite.KNormScale, ActivationSite.KNormNormalized, l, B);
        }

        if (RotaryFor(l) is { } rotary)
        {
            rotary.Apply(qkv, rows, width, H, dh, ctx.Positions, c.RotaryStyle);
            rotary.Apply(qkv[qw..], rows, width, G, dh, ctx.Positions, c.RotaryStyle);
            VisitHeads(ctx, ActivationSite.RotQ, l, qkvMemory, 0, H, width);
            VisitHeads(ctx, ActivationSite.RotK, l, qkvMemory, qw, G, width);
        }
    }

    private static readonly ActivationSite[] s_attentionInternals =
    [
        ActivationSite.QInput, ActivationSite.KInput, ActivationSite.VInput, ActivationSite.Q, ActivationSite.K, ActivationSite.V,
        ActivationSite.QNormScale, ActivationSite.QNormNormalized, ActivationSite.KNormScale, ActivationSite.KNormNormalized,
        ActivationSite.RotQ, ActivationSite.RotK, ActivationSite.AttnScores, ActivationSite.Pattern,
    ];

    /// <summary>Whether a hook overwrites all of layer <paramref name="l"/>'s z and nothing computed before it is wanted (<see cref="IActivationHooks.SuppliesZ"/>).</summary>
    private static bool ZIsSupplied(int l, RunContext ctx) =>
        ctx.Cache is null && ctx.Hooks is { } hooks && hooks.SuppliesZ(l) && !s_attentionInternals.Any(site => hooks.Wants(site, l));

    /// <summary>attn_out = z·W_O (+ b_O), through hook_result when a hook wants the per-head outputs.</summary>
    private void OutputProjection(int l, LayerWeights w, Buffers buf, RunContext ctx)
    {
        var c = Config;
        int rows = ctx.Rows, B = ctx.B, T = ctx.T, d = c.DModel, dh = c.DHead, H = c.Heads, qw = H * dh;
        var z = buf.Z.AsSpan(0, rows * qw);
        if (ctx.Wants(ActivationSite.Result, l))
        {
            // Per-head outputs z_h·W_O[h], [B, T, H, d]; attn_out is their sum (plus b_O), so a hook that edits one
            // head's result changes exactly that head's contribution.
            var result = new float[rows * H * d];
            for (int h = 0; h < H; h++)
            {
                var woh = w.W_O.Select(0, h);
                var op = MatrixOperand.Of(woh) ?? MatrixOperand.Of(woh.Contiguous())!.Value;
                op.Multiply(buf.Z.AsSpan(h * dh), qw, rows, result.AsSpan(h * d), H * d, precision: Precision);
            }
            Visit(ctx, ActivationSite.Result, l, result, B, T, H, d);
            var attnOut = buf.AttnOut.AsSpan(0, rows * d);
            attnOut.Clear();
            for (int r = 0; r < rows; r++)
                for (int h = 0; h < H; h++)
                    TensorPrimitives.Add(attnOut.Slice(r * d, d), result.AsSpan((r * H + h) * d, d), attnOut.Slice(r * d, d));
        }
        else Project(z, qw, rows, MatrixOperand.OfOutput(w.W_O), w.W_O, buf.AttnOut, d);
        if (w.b_O is not null) AddBias(buf.AttnOut, rows, d, w.b_O);
    }

    private HeadMinerException MissingPostNorm(int l, string name) =>
        new($"{Source}: blocks.{l}.{name} weight is missing; a {Config.Architecture} model normalises each sublayer's output");

    private HeadMinerException MissingQkNorm(int l, string name) =>
        new($"{Source}: blocks.{l}.attn.{name} weight is missing; a {Config.Architecture} model normalises its queries and keys");

    /// <summary>Keys then values of one sequence, [P + T, kvw] each: the prefix's from the caller, then this run's rows.</summary>
    private static void AssemblePrefixKv(RunContext ctx, int l, int b, Span<float> seq, float[] kv, int P, int T, int kvw, int qw, int width)
    {
        int K = P + T;
        var (keys, values) = ctx.Prefix!(l, b);
        keys.Span[..(P * kvw)].CopyTo(kv);
        values.Span[..(P * kvw)].CopyTo(kv.AsSpan(K * kvw));
        for (int t = 0; t < T; t++)
        {
            seq.Slice(t * width + qw, kvw).CopyTo(kv.AsSpan((P + t) * kvw, kvw));
            seq.Slice(t * width + qw + kvw, kvw).CopyTo(kv.AsSpan((K + P + t) * kvw, kvw));
        }
    }

    private static AttentionMask Mask(RunContext ctx, int b, int window) => new()
    {
        FirstQueryPosition = ctx.PrefixLength,
        SlidingWindow = window,
        PathQueries = ctx.AttentionPathQueries,
        KeyValid = ctx.Batch.Mask is null ? default : ctx.Batch.Mask.AsSpan(b * ctx.T, ctx.T),
    };

    /// <summary>Offers the [B, T, heads, dh] block of the fused qkv buffer that starts at <paramref name="column"/>.</summary>
    private void VisitHeads(RunContext ctx, ActivationSite site, int layer, Memory<float> qkv, int column, int heads, int width)
    {
        if (!ctx.Wants(site, layer)) return;
        int dh = Config.DHead;
        var view = Tensor.FromMemory(qkv, qkv.Length).View(column, [ctx.B, ctx.T, heads, dh], [ctx.T * width, width, dh, 1]);
        ctx.Hooks!.Visit(site, layer, view);
    }

    private void SplitProjection(int l, ActivationSite site, float[] residual, Tensor w, Tensor? bias, int heads, int column, LayerWeights lw, Buffers buf, RunContext ctx)
    {
        int rows = ctx.Rows, d = Config.DModel, dh = Config.DHead, width = buf.QkvWidth;
        // Sized for the query side (the most heads) and reused for k and v and every layer: at 2048 rows of a 32-head,
        // 2048-wide model one such buffer is 512 MiB, and allocating it 3 × layers times per pass churns gigabytes.
        var inputs = buf.SplitInputs ??= new float[rows * Config.Heads * d];
        for (int r = 0; r < rows; r++)
            for (int h = 0; h < heads; h++) residual.AsSpan(r * d, d).CopyTo(inputs.AsSpan((r * heads + h) * d, d));
        Visit(ctx, site, l, inputs, ctx.B, ctx.T, heads, d);
        var normed = buf.SplitNormed ??= new float[rows * d];
        var headInput = buf.SplitHeadInput ??= new float[rows * d];
        for (int h = 0; h < heads; h++)
        {
            for (int r = 0; r < rows; r++) inputs.AsSpan((r * heads + h) * d, d).CopyTo(headInput.AsSpan(r * d, d));
            if (!Config.PreNorm) headInput.CopyTo(normed);
            else Normalize(headInput, normed, rows, lw.Ln1Weight, lw.Ln1Bias, buf, null, default, default, l);
            var wh = w.Select(0, h);
            var op = MatrixOperand.Of(wh) ?? MatrixOperand.Of(wh.Contiguous())!.Value;
            op.Multiply(normed, d, rows, buf.Qkv.AsSpan(column + h * dh), width, precision: Precision);
            if (bias is not null)
            {
                var bh = bias.Select(0, h).Contiguous().Span;
                for (int r = 0; r < rows; r++) TensorPrimitives.Add(buf.Qkv.AsSpan(r * width + column + h * dh, dh), bh, buf.Qkv.AsSpan(r * width + column + h * dh, dh));
            }
        }
    }

    private void Mlp(int l, LayerWeights w, Buffers buf, RunContext ctx)
    {
        var c = Config;
        int rows = ctx.Rows, d = c.DModel, m = c.DMlp;
        var pre = buf.MlpPre.AsSpan(0, rows * m);
        Project(buf.Normed, d, rows, MatrixOperand.Of(w.W_in), w.W_in, pre, m);
        if (w.b_in is not null) AddBias(pre, rows, m, w.b_in);
        switch (c.Activation)
        {
            case MlpActivation.GeluTanh:
                Visit(ctx, ActivationSite.MlpPre, l, buf.MlpPre, ctx.B, ctx.T, m);
                ParallelElementwise(pre, static (s, dst) => Activations.GeluTanh(s, dst));
                break;
            case MlpActivation.GeluErf:
                Visit(ctx, ActivationSite.MlpPre, l, buf.MlpPre, ctx.B, ctx.T, m);
                ParallelElementwise(pre, static (s, dst) => Activations.GeluErf(s, dst));
                break;
            case MlpActivation.SwiGlu or MlpActivation.GeGluTanh:
                // TransformerLens's gated MLP: hook_pre is the gate's input, hook_pre_linear the up projection.
                var gate = buf.MlpGate.AsSpan(0, rows * m);
                Project(buf.Normed, d, rows, MatrixOperand.Of(w.W_gate!), w.W_gate!, gate, m);
                Visit(ctx, ActivationSite.MlpPre, l, buf.MlpGate, ctx.B, ctx.T, m);
                Visit(ctx, ActivationSite.MlpPreLinear, l, buf.MlpPre, ctx.B, ctx.T, m);
                if (c.Activation == MlpActivation.SwiGlu) ParallelElementwise(gate, static (s, dst) => Activations.Silu(s, dst));
                else ParallelElementwise(gate, static (s, dst) => Activations.GeluTanh(s, dst));
                TensorPrimitives.Multiply(pre, gate, pre);
                break;
        }
        Visit(ctx, ActivationSite.MlpPost, l, buf.MlpPre, ctx.B, ctx.T, m);
        Project(pre, m, rows, MatrixOperand.Of(w.W_out), w.W_out, buf.MlpOut, d);
        if (w.b_out is not null) AddBias(buf.MlpOut, rows, d, w.b_out);
        if (c.PostNorm)
            NormalizeInto(buf.MlpOut, buf.MlpOut, rows, w.Ln2PostWeight ?? throw MissingPostNorm(l, "ln2_post"), null, buf.Scale, ctx.Hooks, ctx.B,
                ActivationSite.Ln2PostScale, ActivationSite.Ln2PostNormalized, l);
        Visit(ctx, ActivationSite.MlpOut, l, buf.MlpOut, ctx.B, ctx.T, d);
    }

    private Memory<float> Unembed(float[] x, int[] rows, IActivationHooks? hooks, int batch, bool uncapped = false)
    {
        int d = Config.DModel, v = Config.VocabSize;
        var selected = new float[rows.Length * d];
        for (int i = 0; i < rows.Length; i++) x.AsSpan(rows[i] * d, d).CopyTo(selected.AsSpan(i * d, d));
        var scale = new float[rows.Length];
        NormalizeInto(selected, selected, rows.Length, Weights.LnFinalWeight, Weights.LnFinalBias, scale, hooks, batch, ActivationSite.LnFinalScale, ActivationSite.LnFinalNormalized, -1);
        // Every element is written by the product (beta = 0 never reads C), so the array is not zeroed first: at 8×128
        // tokens and a 50k vocabulary that is 206 MB the GC would clear for nothing. On huge pages where the OS offers
        // them: a fresh buffer's first touch then faults once per 2 MiB, not per 4 KiB (HugePageArrays).
        var memory = HugePageArrays.UninitializedAligned(rows.Length * v);
        var logits = memory.Span;
        Project(selected, d, rows.Length, MatrixOperand.Of(Weights.W_U), Weights.W_U, logits, v);
        if (Weights.b_U is not null) AddBias(logits, rows.Length, v, Weights.b_U);
        // Gemma 2: after the unembedding, as Hugging Face and TransformerLens (output_logits_soft_cap) do.
        if (Config.FinalLogitSoftCap is { } cap && !uncapped) Activations.SoftCap(logits, logits, cap);
        return memory;
    }

    // ---- small helpers -------------------------------------------------------------------------------------------

    private void Normalize(float[] x, float[] y, int rows, Tensor? weight, Tensor? bias, Buffers buf, RunContext? ctx, ActivationSite scaleSite, ActivationSite normalizedSite, int layer) =>
        NormalizeInto(x, y, rows, weight, bias, buf.Scale, ctx?.Hooks, ctx?.B ?? 1, scaleSite, normalizedSite, layer);

    /// <summary>
    /// y = norm(x)·weight + bias. When a hook wants the scale or the normalised values (TransformerLens's hook_scale
    /// and hook_normalized, taken before the weight and bias), the norm runs in two steps so the hook sits between.
    /// </summary>
    private void NormalizeInto(float[] x, float[] y, int rows, Tensor? weight, Tensor? bias, float[] scale, IActivationHooks? hooks, int batch, ActivationSite scaleSite, ActivationSite normalizedSite, int layer)
    {
        int d = Config.DModel;
        bool wantsScale = hooks is not null && hooks.Wants(scaleSite, layer);
        bool wantsNormalized = hooks is not null && hooks.Wants(normalizedSite, layer);
        bool hooked = wantsScale || wantsNormalized;
        var wSpan = weight is null || hooked ? default : weight.Contiguous().Span;
        var bSpan = bias is null || hooked ? default : bias.Contiguous().Span;
        var src = x.AsSpan(0, rows * d);
        var dst = y.AsSpan(0, rows * d);
        var scaleSpan = hooked ? scale.AsSpan(0, rows) : default;
        if (Config.Norm == NormKind.LayerNorm) Norms.LayerNorm(src, dst, rows, d, wSpan, bSpan, Config.NormEps, scaleSpan);
        else Norms.RmsNorm(src, dst, rows, d, wSpan, Config.NormEps, scaleSpan);
        if (!hooked) return;
        int t = rows / batch;
        if (wantsScale)
        {
            // A hook may rewrite the scale: normalised = (x − mean) / scale, so rescale each edited row by old/new.
            var before = scale.AsSpan(0, rows).ToArray();
            hooks!.Visit(scaleSite, layer, Tensor.FromMemory(scale.AsMemory(0, rows), batch, t, 1));
            for (int r = 0; r < rows; r++)
                if (scale[r] != before[r]) TensorPrimitives.Multiply(dst.Slice(r * d, d), before[r] / scale[r], dst.Slice(r * d, d));
        }
        if (wantsNormalized) hooks!.Visit(normalizedSite, layer, Tensor.FromMemory(y.AsMemory(0, rows * d), batch, t, d));
        if (weight is not null)
        {
            var g = weight.Contiguous().Span;
            for (int r = 0; r < rows; r++) TensorPrimitives.Multiply(dst.Slice(r * d, d), g, dst.Slice(r * d, d));
        }
        if (bias is not null) AddBias(dst, rows, d, bias);
    }

    /// <summary>dst[:, column..] = x · W for W [heads, in, d_head]; one GEMM when the heads are adjacent, else one per head.</summary>
    private void ProjectHeads(ReadOnlySpan<float> x, int rows, Tensor w, Tensor? bias, Span<float> dst, int column, int ldDst)
    {
        int heads = w.Dim(0), inDim = w.Dim(1), dh = w.Dim(2);
        if (MatrixOperand.OfHeads(w) is { } op) op.Multiply(x, inDim, rows, dst[column..], ldDst, precision: Precision, packs: _packs);
        else
            for (int h = 0; h < heads; h++)
            {
                var head = w.Select(0, h);
                var headOp = MatrixOperand.Of(head) ?? MatrixOperand.Of(head.Contiguous())!.Value;
                headOp.Multiply(x, inDim, rows, dst[(column + h * dh)..], ldDst, precision: Precision);
            }
        AddHeadBias(dst, rows, bias, column, ldDst);
    }

    /// <summary>Adds b[h] to head h's columns (starting at <paramref name="column"/>) of every row.</summary>
    private static void AddHeadBias(Span<float> dst, int rows, Tensor? bias, int column, int ldDst)
    {
        if (bias is null) return;
        int heads = bias.Dim(0), dh = bias.Dim(1);
        var b = bias.Contiguous().Span;
        for (int r = 0; r < rows; r++)
        {
            var row = dst.Slice(r * ldDst + column, heads * dh);
            TensorPrimitives.Add(row, b, row);
        }
    }

    private void Project(ReadOnlySpan<float> x, int ldx, int rows, MatrixOperand? op, Tensor w, Span<float> y, int ldy)
    {
        // A view of the weight is packed once for all forwards; a contiguous copy (made per call) never is.
        if (op is { } view) view.Multiply(x, ldx, rows, y, ldy, precision: Precision, packs: _packs);
        else MatrixOperand.Of(w.Rank == 2 ? w.Contiguous() : w.Contiguous().Reshape(-1, w.Dim(-1)))!.Value.Multiply(x, ldx, rows, y, ldy, precision: Precision);
    }

    private static void AddBias(Span<float> y, int rows, int cols, Tensor bias)
    {
        var b = bias.Contiguous().Span;
        for (int r = 0; r < rows; r++) TensorPrimitives.Add(y.Slice(r * cols, cols), b, y.Slice(r * cols, cols));
    }

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

    public void Dispose()
    {
        _packs.Clear();
        _owner?.Dispose();
    }
}
