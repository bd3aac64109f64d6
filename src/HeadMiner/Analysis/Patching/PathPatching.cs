using HeadMiner.Hooks;
using HeadMiner.Models;
using HeadMiner.Tasks;
using HeadMiner.Tensors;

namespace HeadMiner.Analysis.Patching;

/// <summary>
/// Path patching (Wang et al. 2023, the IOI paper): how much of the clean→corrupted change in a metric flows from one
/// sender head to a set of receivers (the logits, some heads' q/k/v inputs, some MLPs' inputs) along the direct path only.
/// <para>
/// Built once per (model, prompt pairs, metric): the clean run's hook_z, hook_mlp_out and hook_resid_pre of every
/// layer and the corrupted run's hook_z are cached. Then, per sender:
/// </para>
/// <list type="number">
/// <item>Pass 1: the clean input, with the sender's z taken from the corrupted run and every other head's z and every
/// MLP's output frozen to their clean values. Freezing the MLPs too (not only the heads) is what makes the path to
/// the logits exactly the sender's direct effect: the residual stream after the sender differs from clean only by
/// (z_corr − z_clean)·W_O of the sender. For head receivers that residual is therefore formed directly (clean
/// resid_pre + the sender's write, no forward pass); only the logits need pass 1 run.</item>
/// <item>Pass 2 (head receivers only): the clean input again, everything recomputed normally, except that each
/// receiver head's q/k/v input (its own copy of resid_pre, hook_q_input/hook_k_input/hook_v_input) is replaced by
/// resid_pre of its layer from pass 1. The metric of this run is the answer. With the logits as receiver, pass 1's
/// metric is the answer. An MLP receiver's input (hook_mlp_in) is replaced likewise by resid_mid of its layer
/// (resid_pre in parallel blocks); with the logits among several receivers the sender's direct write is added to
/// the last layer's resid_post.</item>
/// </list>
/// <para>
/// Post-sublayer norms (OLMo-2, Gemma 2/3): the sender's write goes through its layer's ln1_post, recomputed. Pass 1
/// rebuilds the sender layer's attention output from the clean z of the other heads, the sender's corrupted z and
/// b_O, and normalises it with its own new scale, so the sender's effect includes the post-norm's rescaling of its
/// layer-mates (what a real intervention on that head does); every later sublayer's output is pinned to its clean
/// value. The write at a receiver is ln1_post(attn_out_clean + Δz·W_O[h]) − ln1_post(attn_out_clean), not the
/// frozen-scale linear term g ⊙ Δz·W_O[h] / s_clean (docs/METHODS.md compares the two).
/// </para>
/// <para>
/// With <see cref="MlpsOnPath"/> set, the MLPs are part of every path, as in the IOI paper's own definition: pass 1
/// pins only the other heads' z and recomputes every MLP (and post-norm), so "sender → logits" is the sender's
/// effect through the direct path and every chain of MLPs after it, and pass 1 is a real forward for every receiver
/// set. MLP receivers are refused there (the path through an MLP is already counted).
/// </para>
/// <para>
/// Senders must sit in a layer below every receiver head, and at or below every receiver MLP (strictly below in
/// parallel attention+MLP blocks: <see cref="PathReceivers.SenderLayerLimit"/>). Senders of one layer are run together as copies of the pair
/// batch (one forward for several senders), and runs resume from the cached clean resid_pre of the first layer that
/// can differ from clean.
/// </para>
/// </summary>
public sealed class PathPatching
{
    private readonly Transformer _model;
    private readonly float[][] _cleanZ;
    private readonly float[][] _corruptedZ;
    private readonly float[][] _cleanMlpOut;
    private readonly float[][] _cleanResidPre;
    private readonly float[][]? _cleanResidMid;
    private readonly float[] _cleanFinalResid;

    /// <summary>
    /// Caches the clean and corrupted runs of <paramref name="metric"/>'s pairs. For <see cref="MetricKind.KlDivergence"/>
    /// the metric must have been built with the clean run's logits (<see cref="Create"/> does that).
    /// </summary>
    public PathPatching(Transformer model, Metric metric)
    {
        _model = model;
        Metric = metric;
        var pairs = metric.Pairs;
        if (pairs.Count == 0) throw new HeadMinerException("path patching needs at least one prompt pair");
        for (int i = 0; i < pairs.Count; i++)
            if (pairs.Clean[i].Length != pairs.Length || pairs.Corrupted[i].Length != pairs.Length)
                throw new HeadMinerException($"prompt pair {i}: clean and corrupted prompts must all have {pairs.Length} tokens for position-wise patching");
        var c = model.Config;
        var cleanFilter = CacheFilter.Where(h => h.Site is ActivationSite.Z or ActivationSite.MlpOut or ActivationSite.ResidPre or ActivationSite.ResidMid
            || (h.Site == ActivationSite.ResidPost && h.Layer == c.Layers - 1));
        var (cleanRun, clean) = model.RunWithCache(pairs.CleanBatch(), cleanFilter, lastOnly: metric.LastPositionOnly);
        var (corruptedRun, corrupted) = model.RunWithCache(pairs.CorruptedBatch(), CacheFilter.Where(h => h.Site is ActivationSite.Z), lastOnly: metric.LastPositionOnly);
        // Broken weights stop here, naming the first hook point with NaN, before any sender is patched.
        FiniteForward.Check(model, pairs.CleanBatch(), cleanRun.Logits!, "the clean prompts");
        FiniteForward.Check(model, pairs.CorruptedBatch(), corruptedRun.Logits!, "the corrupted prompts");
        _cleanZ = PerLayer(clean, ActivationSite.Z, c.Layers);
        _corruptedZ = PerLayer(corrupted, ActivationSite.Z, c.Layers);
        _cleanMlpOut = PerLayer(clean, ActivationSite.MlpOut, c.Layers);
        _cleanResidPre = PerLayer(clean, ActivationSite.ResidPre, c.Layers);
        _cleanResidMid = c.ParallelAttnMlp ? null : PerLayer(clean, ActivationSite.ResidMid, c.Layers);
        _cleanFinalResid = clean[ActivationSite.ResidPost, c.Layers - 1].Contiguous().ToArray();
        CleanPerPair = metric.PerPair(cleanRun.Logits!);
        CleanMetric = CleanPerPair.Average();
        // The loss metric scores the clean text's next tokens in every run (all patched runs read the clean input),
        // so the corrupted baseline is the corrupted run's loss on the clean tokens.
        var corruptedPerPair = metric.PerPair(corruptedRun.Logits!);
        CorruptedMetric = corruptedPerPair.Average();
        DegeneratePairs = Metric.DegeneratePairs(CleanPerPair, corruptedPerPair);
    }

    /// <summary>Pairs (0-based) whose own clean and corrupted metrics are equal (<see cref="Metric.IsDegenerate"/>).</summary>
    public int[] DegeneratePairs { get; }

    /// <summary>Builds the metric (for KL, from a clean run) and caches the runs.</summary>
    public static PathPatching Create(Transformer model, TokenizedPairs pairs, MetricKind kind, bool mlpsOnPath = false)
    {
        Tensor? cleanLast = kind == MetricKind.KlDivergence ? model.Forward(pairs.CleanBatch(), lastOnly: true) : null;
        return new PathPatching(model, new Metric(kind, pairs, cleanLast)) { MlpsOnPath = mlpsOnPath };
    }

    public Metric Metric { get; }

    /// <summary>The metric of the unpatched clean run.</summary>
    public double CleanMetric { get; }

    /// <summary>The clean run's metric per pair (<see cref="CleanMetric"/> is their mean).</summary>
    public double[] CleanPerPair { get; }

    /// <summary>The metric of the unpatched corrupted run (for the loss: on the clean text's tokens).</summary>
    public double CorruptedMetric { get; }

    /// <summary>At most this many token rows (copies × pairs × tokens) per batched forward of a sweep (at least one copy always runs).</summary>
    public int MaxRowsPerRun
    {
        get => _maxRowsPerRun;
        set => _maxRowsPerRun = value > 0 ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "must be positive");
    }

    private int _maxRowsPerRun = 2048;

    /// <summary>
    /// Whether the MLPs are on the paths (the IOI paper's definition: only the other heads are frozen, every MLP is
    /// recomputed) instead of frozen with the heads (the default: a path to the logits is the sender's direct write).
    /// </summary>
    public bool MlpsOnPath { get; init; }

    private TokenizedPairs Pairs => Metric.Pairs;
    private int RowsPerCopy => Pairs.Count * Pairs.Length;

    /// <summary>Path patching from one sender head to <paramref name="receivers"/>.</summary>
    public PathPatchResult Patch(int senderLayer, int senderHead, PathReceivers receivers)
    {
        var c = _model.Config;
        if ((uint)senderLayer >= (uint)c.Layers || (uint)senderHead >= (uint)c.Heads)
            throw new HeadMinerException($"sender {senderLayer}.{senderHead} is not a head of the model ({c.Layers} layers × {c.Heads} heads)");
        if (receivers.ReachError(c, senderLayer, $"{senderLayer}.{senderHead}") is { } unreachable) throw new HeadMinerException(unreachable);
        RequireReceiversFitMode(receivers);
        double patched = RunSenders(senderLayer, [senderHead], receivers)[0].Average();
        return new PathPatchResult(senderLayer, senderHead, patched, Metric.Normalize(patched, CleanMetric, CorruptedMetric));
    }

    /// <summary>
    /// Path patching from every head below the earliest receiver (every head for the logits); the rest of the
    /// [layers, heads] matrices is NaN. <paramref name="progress"/> gets the fraction of senders done.
    /// </summary>
    public PathPatchSweep Sweep(PathReceivers receivers, CancellationToken cancel = default, IProgress<double>? progress = null)
    {
        var c = _model.Config;
        RequireReceiversFitMode(receivers);
        int senderLayers = receivers.SenderLayerLimit(c);
        var patched = new double[c.Layers, c.Heads];
        var normalized = new double[c.Layers, c.Heads];
        var perPair = new double[c.Layers, c.Heads][];
        for (int l = 0; l < c.Layers; l++)
            for (int h = 0; h < c.Heads; h++) patched[l, h] = normalized[l, h] = double.NaN;
        var results = new List<PathPatchResult>();
        int copies = CopiesPerRun(receivers);
        for (int l = 0; l < senderLayers; l++)
            for (int first = 0; first < c.Heads; first += copies)
            {
                cancel.ThrowIfCancellationRequested();
                var heads = Enumerable.Range(first, Math.Min(copies, c.Heads - first)).ToArray();
                var pairs = RunSenders(l, heads, receivers);
                for (int i = 0; i < heads.Length; i++)
                {
                    double value = pairs[i].Average();
                    perPair[l, heads[i]] = pairs[i];
                    var result = new PathPatchResult(l, heads[i], value, Metric.Normalize(value, CleanMetric, CorruptedMetric));
                    results.Add(result);
                    patched[l, heads[i]] = result.Patched;
                    normalized[l, heads[i]] = result.Normalized;
                }
                progress?.Report((double)results.Count / (senderLayers * c.Heads));
            }
        return new PathPatchSweep(receivers, Metric.Name, CleanMetric, CorruptedMetric, results, patched, normalized) { PatchedPerPair = perPair, CleanPerPair = CleanPerPair };
    }

    private void RequireReceiversFitMode(PathReceivers receivers)
    {
        if (MlpsOnPath && receivers.Mlps.Count > 0)
            throw new HeadMinerException($"MLP receivers ({string.Join(",", receivers.Mlps.Select(l => $"mlp{l}"))}) mean nothing when the MLPs are on the paths: every path through an MLP already reaches the logits; drop them or freeze the MLPs");
    }

    /// <summary>Floats one batched forward may spend on a per-row × something buffer (all-position logits, per-head inputs): 64 Mi.</summary>
    private const long RowBufferFloats = 64L << 20;

    /// <summary>
    /// Senders per batched forward: bounded by <see cref="MaxRowsPerRun"/>; for the loss (all-position logits) by the
    /// logits' size; for receivers that read heads' q/k/v inputs by those inputs' size (the forward then keeps each
    /// row's input per head, rows × heads × d_model floats: 2048 rows of a 32-head, 2048-wide model would be 2 GiB).
    /// </summary>
    private int CopiesPerRun(PathReceivers receivers)
    {
        var c = _model.Config;
        int copies = Math.Max(1, MaxRowsPerRun / RowsPerCopy);
        if (!Metric.LastPositionOnly) copies = Math.Min(copies, CopiesWithin((long)RowsPerCopy * c.VocabSize));
        if (receivers.Inputs.Count > 0) copies = Math.Min(copies, CopiesWithin((long)RowsPerCopy * c.Heads * c.DModel));
        return Math.Min(copies, c.Heads);
    }

    private static int CopiesWithin(long floatsPerCopy) => Math.Max(1, (int)Math.Min(int.MaxValue, RowBufferFloats / floatsPerCopy));

    /// <summary>The patched metric per pair for each sender head of <paramref name="layer"/>, one batch copy per sender.</summary>
    private double[][] RunSenders(int layer, int[] heads, PathReceivers receivers)
    {
        var batch = CleanCopies(heads.Length);
        var pass1 = new FrozenSender(this, layer, heads, receivers);
        // With the MLPs on the paths pass 1 is a real forward (the MLPs recompute); with them frozen only the logits
        // alone need it (its metric is the answer).
        if (MlpsOnPath && !receivers.IncludesLogits)
        {
            // Head receivers only: pass 1 matters only up to the last receiver layer's resid_pre, so it stops there
            // (on a 16-layer model with name movers in the middle this halves the sweep's cost).
            int last = receivers.Inputs.Max(r => r.Layer);
            var residual = _model.Run(batch, new ForwardOptions
            {
                Hooks = pass1,
                StartLayer = layer,
                StartResidual = Repeat(_cleanResidPre[layer], heads.Length),
                EndLayer = last,
            }).Residual;
            pass1.ReceiverResidPre[last] = residual;
            return Pass2(batch, receivers, pass1.ReceiverResidPre, [], null);
        }
        if (MlpsOnPath || receivers.IsLogits)
        {
            var logits = Resume(batch, pass1, layer);
            if (receivers.IsLogits) return Metric.PerPairMany(logits);
            // Its change to the final residual (direct path and MLP chains) goes to pass 2 when the logits are a receiver.
            float[]? change = null;
            if (receivers.IncludesLogits)
            {
                change = pass1.FinalResid!;
                System.Numerics.Tensors.TensorPrimitives.Subtract(change, Repeat(_cleanFinalResid, heads.Length), change);
            }
            return Pass2(batch, receivers, pass1.ReceiverResidPre, [], change);
        }

        // Pass 1 without a forward: with every head's z and every MLP output from the sender's layer on pinned to their
        // clean values, a receiver layer's resid_pre is the clean one plus the sender's change (z_corr − z_clean)·W_O.
        var receiverResidPre = receivers.Inputs.Select(r => r.Layer).Distinct()
            .ToDictionary(r => r, r => SenderResidual(layer, heads, _cleanResidPre[r]));
        // An MLP reads resid_mid (resid_pre in a parallel block): clean, plus the sender's write when the sender sits
        // below it (same layer included in sequential blocks, where attention runs first).
        var mlpInputs = receivers.Mlps.ToDictionary(l => l, l => SenderResidual(layer, heads, _cleanResidMid?[l] ?? _cleanResidPre[l]));
        // With the logits among several receivers, the sender's direct write is added to the final residual of pass 2.
        float[]? direct = receivers.IncludesLogits ? SenderResidual(layer, heads, new float[RowsPerCopy * _model.Config.DModel]) : null;
        return Pass2(batch, receivers, receiverResidPre, mlpInputs, direct);
    }

    /// <summary>Pass 2: the clean copies with the receivers' inputs replaced (and the final residual's change added).</summary>
    private double[][] Pass2(TokenBatch batch, PathReceivers receivers, Dictionary<int, float[]> residPre, Dictionary<int, float[]> mlpInputs, float[]? finalChange)
    {
        int firstReceiverLayer = receivers.EarliestLayer(_model.Config);
        var pass2 = new ReceiverInputs(receivers, residPre, mlpInputs, finalChange, _model.Config);
        return Metric.PerPairMany(Resume(batch, pass2, firstReceiverLayer));
    }

    /// <summary>The logits of the clean copies run from <paramref name="layer"/> (resumed from the cached clean resid_pre) with <paramref name="hooks"/>.</summary>
    private Tensor Resume(TokenBatch batch, IActivationHooks hooks, int layer) => _model.Run(batch, new ForwardOptions
    {
        Hooks = hooks,
        LastOnly = Metric.LastPositionOnly,
        StartLayer = layer,
        StartResidual = Repeat(_cleanResidPre[layer], batch.Batch / Pairs.Count),
    }).Logits!;

    /// <summary>
    /// Pass 1's resid_pre at a receiver layer for each sender copy: <paramref name="cleanResidPre"/> plus, in copy j,
    /// (z_corr − z_clean) of head heads[j] times its W_O. Exact, because pass 1 pins every other head's z and every MLP
    /// output to the clean run, so the residual stream differs from clean only by the sender's own write. With
    /// post-norms that write is ln1_post(A + Δz·W_O[h]) − ln1_post(A), A the clean pre-norm attention output.
    /// </summary>
    private float[] SenderResidual(int layer, int[] heads, float[] cleanResidPre)
    {
        var c = _model.Config;
        int dh = c.DHead, d = c.DModel, width = c.Heads * dh, rows = RowsPerCopy;
        var result = Repeat(cleanResidPre, heads.Length);
        var diff = new float[rows * dh];
        var clean = _cleanZ[layer];
        var corrupted = _corruptedZ[layer];
        var postWeight = FrozenPostNorm.Weight(c, _model.Weights, layer, Sublayer.Attention);
        float[]? attnClean = null, normedClean = null;
        if (c.PostNorm)
        {
            attnClean = CleanAttentionOutput(layer);
            normedClean = (float[])attnClean.Clone();
            FrozenPostNorm.Normalize(c, postWeight, normedClean);
        }
        for (int j = 0; j < heads.Length; j++)
        {
            int h = heads[j];
            for (int r = 0; r < rows; r++)
                for (int k = 0; k < dh; k++) diff[r * dh + k] = corrupted[r * width + h * dh + k] - clean[r * width + h * dh + k];
            var wo = _model.Weights.Blocks[layer].W_O.Select(0, h).Contiguous(); // [dh, d]
            var copy = result.AsSpan(j * rows * d, rows * d);
            if (!c.PostNorm)
            {
                Tensors.Kernels.Gemm.Multiply(false, false, rows, d, dh, 1f, diff, dh, wo.Span, d, 1f, copy, d);
                continue;
            }
            // The sender's layer output recomputed and re-normalised; its change is what reaches the residual stream.
            var patched = (float[])attnClean!.Clone();
            Tensors.Kernels.Gemm.Multiply(false, false, rows, d, dh, 1f, diff, dh, wo.Span, d, 1f, patched, d);
            FrozenPostNorm.Normalize(c, postWeight, patched);
            System.Numerics.Tensors.TensorPrimitives.Subtract(patched, normedClean, patched);
            System.Numerics.Tensors.TensorPrimitives.Add(copy, patched, copy);
        }
        return result;
    }

    /// <summary>The clean run's attention output of <paramref name="layer"/> before its post-norm: z·W_O + b_O, [rows, d].</summary>
    private float[] CleanAttentionOutput(int layer)
    {
        var c = _model.Config;
        int width = c.Heads * c.DHead, d = c.DModel, rows = RowsPerCopy;
        var block = _model.Weights.Blocks[layer];
        var wo = block.W_O.Contiguous(); // [H, dh, d] = [H·dh, d] row-major
        var result = new float[rows * d];
        Tensors.Kernels.Gemm.Multiply(false, false, rows, d, width, 1f, _cleanZ[layer], width, wo.Span, d, 0f, result, d);
        if (block.b_O is { } bias)
        {
            var bo = bias.Contiguous().Span;
            for (int r = 0; r < rows; r++) System.Numerics.Tensors.TensorPrimitives.Add(result.AsSpan(r * d, d), bo, result.AsSpan(r * d, d));
        }
        return result;
    }

    private TokenBatch CleanCopies(int copies)
    {
        var one = Pairs.CleanBatch();
        return new TokenBatch(Repeat(one.Ids, copies), one.Batch * copies, one.Length);
    }

    private static T[] Repeat<T>(T[] block, int copies)
    {
        var result = new T[block.Length * copies];
        for (int j = 0; j < copies; j++) block.CopyTo(result, j * block.Length);
        return result;
    }

    private static float[][] PerLayer(ActivationCache cache, ActivationSite site, int layers) =>
        Enumerable.Range(0, layers).Select(l => cache[site, l].Contiguous().ToArray()).ToArray();

    /// <summary>
    /// Pass 1: every head's z and (unless <see cref="MlpsOnPath"/>) every MLP output from the sender's layer on is
    /// pinned to its clean value, except that copy j of the batch gets sender head heads[j]'s corrupted z. Records
    /// resid_pre at the receiver layers and, with the MLPs on the path and the logits among several receivers, the
    /// last layer's resid_post.
    /// </summary>
    private sealed class FrozenSender(PathPatching owner, int layer, int[] heads, PathReceivers receivers) : IActivationHooks
    {
        private readonly HashSet<int> _receiverLayers = receivers.Inputs.Select(r => r.Layer).ToHashSet();
        private readonly bool _finalResid = owner.MlpsOnPath && receivers.IncludesLogits && !receivers.IsLogits;

        public Dictionary<int, float[]> ReceiverResidPre { get; } = [];

        public float[]? FinalResid { get; private set; }

        public bool Wants(ActivationSite site, int l) => site switch
        {
            ActivationSite.Z => l >= layer,
            ActivationSite.MlpOut => l >= layer && !owner.MlpsOnPath,
            ActivationSite.ResidPre => _receiverLayers.Contains(l),
            ActivationSite.ResidPost => _finalResid && l == owner._model.Config.Layers - 1,
            _ => false,
        };

        // Every head's z from the sender's layer on is written below (clean, or the senders' corrupted z): the forward
        // skips those layers' queries, keys, values and attention.
        public bool SuppliesZ(int l) => l >= layer;

        public void Visit(ActivationSite site, int l, Tensor activation)
        {
            var live = activation.Span;
            switch (site)
            {
                case ActivationSite.MlpOut:
                    Fill(live, owner._cleanMlpOut[l]);
                    break;
                case ActivationSite.Z:
                    Fill(live, owner._cleanZ[l]);
                    if (l == layer) PatchSenders(live);
                    break;
                case ActivationSite.ResidPre:
                    ReceiverResidPre[l] = live.ToArray();
                    break;
                case ActivationSite.ResidPost:
                    FinalResid = live.ToArray();
                    break;
            }
        }

        private void PatchSenders(Span<float> z)
        {
            var c = owner._model.Config;
            int dh = c.DHead, width = c.Heads * dh, rows = owner.RowsPerCopy;
            var corrupted = owner._corruptedZ[layer];
            for (int j = 0; j < heads.Length; j++)
            {
                var copy = z.Slice(j * rows * width, rows * width);
                for (int r = 0; r < rows; r++)
                    corrupted.AsSpan(r * width + heads[j] * dh, dh).CopyTo(copy.Slice(r * width + heads[j] * dh, dh));
            }
        }

        /// <summary>Writes <paramref name="block"/> (one copy's activation) into every copy of the live buffer.</summary>
        private static void Fill(Span<float> live, float[] block)
        {
            for (int offset = 0; offset < live.Length; offset += block.Length) block.CopyTo(live.Slice(offset, block.Length));
        }
    }

    /// <summary>
    /// Pass 2: each receiver head's split q/k/v input (its own copy of resid_pre, [B, T, heads, d]) is overwritten
    /// with pass 1's resid_pre of its layer. Several receivers on one k/v head (grouped-query attention) write the
    /// same values once. Each receiver MLP's hook_mlp_in is overwritten with pass 1's resid_mid (resid_pre in parallel
    /// blocks) of its layer; with the logits among the receivers, the sender's direct write is added to the last
    /// layer's resid_post.
    /// </summary>
    private sealed class ReceiverInputs(PathReceivers receivers, Dictionary<int, float[]> residPre, Dictionary<int, float[]> mlpInputs, float[]? direct, ModelConfig config) : IActivationHooks
    {
        private readonly ILookup<(ActivationSite Site, int Layer), int> _heads = receivers.Inputs
            .Select(r => (r.Site, r.Layer, r.SiteHead)).Distinct()
            .ToLookup(r => (r.Site, r.Layer), r => r.SiteHead);

        public bool Wants(ActivationSite site, int layer) => site switch
        {
            ActivationSite.MlpIn => mlpInputs.ContainsKey(layer),
            ActivationSite.ResidPost => direct is not null && layer == config.Layers - 1,
            _ => _heads.Contains((site, layer)),
        };

        public void Visit(ActivationSite site, int layer, Tensor activation)
        {
            var live = activation.Span;
            if (site == ActivationSite.MlpIn)
            {
                mlpInputs[layer].CopyTo(live);
                return;
            }
            if (site == ActivationSite.ResidPost)
            {
                System.Numerics.Tensors.TensorPrimitives.Add(live, direct, live);
                return;
            }
            int d = config.DModel;
            int heads = activation.Dim(2);
            var source = residPre[layer];
            int rows = source.Length / d;
            foreach (int h in _heads[(site, layer)])
                for (int r = 0; r < rows; r++)
                    source.AsSpan(r * d, d).CopyTo(live.Slice((r * heads + h) * d, d));
        }
    }
}
