using HeadMiner.Tensors;

namespace HeadMiner.Models;

/// <summary>
/// One block's weights in TransformerLens's layout, whatever checkpoint they came from:
/// W_Q [head, d_model, d_head], W_K/W_V [kv_head, d_model, d_head] (grouped heads stay grouped: query head h reads
/// k/v head <see cref="ModelConfig.KvHeadOf"/>), W_O [head, d_head, d_model], b_Q [head, d_head], b_O [d_model],
/// W_in/W_gate [d_model, d_mlp], W_out [d_mlp, d_model]. Tensors are usually strided views onto the checkpoint's
/// memory-mapped storage: no copy. A tensor absent from a partial checkpoint (loaded with AllowMissing) throws a
/// clear error when first used.
/// </summary>
public sealed class LayerWeights(int layer, string source)
{
    private Tensor? _wq, _wk, _wv, _wo, _win, _wout;
    private Tensor? _ln1w, _ln1b, _ln2w, _ln2b, _bq, _bk, _bv, _bo, _wgate, _bin, _bout, _qnorm, _knorm, _ln1post, _ln2post;

    // A lazy layer (compact half-precision checkpoints) holds no tensors itself: they are converted from the mapped
    // 16-bit data on first use and kept only weakly, so memory stays near the checkpoint's size.
    private Func<LayerWeights>? _load;
    private WeakReference<LayerWeights>? _loaded;

    public int Layer { get; } = layer;

    /// <summary>A layer whose tensors are produced by <paramref name="load"/> when first used (and again if the GC dropped them).</summary>
    public static LayerWeights Lazy(int layer, string source, Func<LayerWeights> load) => new(layer, source) { _load = load };

    public bool IsLazy => _load is not null;

    /// <summary>The layer with its tensors: itself, or the converted copy of a lazy layer (hold it for the duration of a use).</summary>
    public LayerWeights Resolve()
    {
        if (_load is null) return this;
        if (_loaded is not null && _loaded.TryGetTarget(out var cached)) return cached;
        var fresh = _load();
        _loaded = new WeakReference<LayerWeights>(fresh);
        return fresh;
    }

    /// <summary>Makes a lazy layer an ordinary one holding its converted tensors (before editing weights).</summary>
    public void Pin()
    {
        if (_load is null) return;
        var r = Resolve();
        (_wq, _wk, _wv, _wo, _win, _wout) = (r._wq, r._wk, r._wv, r._wo, r._win, r._wout);
        (_ln1w, _ln1b, _ln2w, _ln2b, _bq, _bk, _bv, _bo, _wgate, _bin, _bout) = (r._ln1w, r._ln1b, r._ln2w, r._ln2b, r._bq, r._bk, r._bv, r._bo, r._wgate, r._bin, r._bout);
        (_qnorm, _knorm, _ln1post, _ln2post) = (r._qnorm, r._knorm, r._ln1post, r._ln2post);
        _load = null;
        _loaded = null;
    }

    private LayerWeights R => _load is null ? this : Resolve();

    /// <summary>First norm (before attention). Null weight/bias = none (e.g. after folding).</summary>
    public Tensor? Ln1Weight { get => R._ln1w; set => Writable()._ln1w = value; }
    public Tensor? Ln1Bias { get => R._ln1b; set => Writable()._ln1b = value; }

    /// <summary>Second norm (before the MLP).</summary>
    public Tensor? Ln2Weight { get => R._ln2w; set => Writable()._ln2w = value; }
    public Tensor? Ln2Bias { get => R._ln2b; set => Writable()._ln2b = value; }

    /// <summary>Post-sublayer norms (<see cref="ModelConfig.PostNorm"/>, OLMo-2): on the attention output and on the MLP output.</summary>
    public Tensor? Ln1PostWeight { get => R._ln1post; set => Writable()._ln1post = value; }
    public Tensor? Ln2PostWeight { get => R._ln2post; set => Writable()._ln2post = value; }

    public Tensor W_Q { get => R._wq ?? throw Missing("attn.W_Q"); set => Writable()._wq = value; }
    public Tensor W_K { get => R._wk ?? throw Missing("attn.W_K"); set => Writable()._wk = value; }
    public Tensor W_V { get => R._wv ?? throw Missing("attn.W_V"); set => Writable()._wv = value; }
    public Tensor W_O { get => R._wo ?? throw Missing("attn.W_O"); set => Writable()._wo = value; }
    public Tensor? b_Q { get => R._bq; set => Writable()._bq = value; }
    public Tensor? b_K { get => R._bk; set => Writable()._bk = value; }
    public Tensor? b_V { get => R._bv; set => Writable()._bv = value; }
    public Tensor? b_O { get => R._bo; set => Writable()._bo = value; }

    /// <summary>QK-norm weights (<see cref="ModelConfig.QkNorm"/>): [d_head] per head, or [heads·d_head] / [kv_heads·d_head] over the whole projection.</summary>
    public Tensor? QNormWeight { get => R._qnorm; set => Writable()._qnorm = value; }
    public Tensor? KNormWeight { get => R._knorm; set => Writable()._knorm = value; }

    public Tensor W_in { get => R._win ?? throw Missing("mlp.W_in"); set => Writable()._win = value; }

    /// <summary>Gate projection of a gated MLP (SwiGLU); null for a plain MLP.</summary>
    public Tensor? W_gate { get => R._wgate; set => Writable()._wgate = value; }
    public Tensor W_out { get => R._wout ?? throw Missing("mlp.W_out"); set => Writable()._wout = value; }
    public Tensor? b_in { get => R._bin; set => Writable()._bin = value; }
    public Tensor? b_out { get => R._bout; set => Writable()._bout = value; }

    // A lazy layer is complete by construction (the loader converts and checks every layer once before making it lazy).
    public bool HasAttention => _load is not null || (_wq is not null && _wk is not null && _wv is not null && _wo is not null);
    public bool HasMlp => _load is not null || (_win is not null && _wout is not null);

    /// <summary>Setting a tensor of a lazy layer pins it first, so the edit is not lost when the converted copy is dropped.</summary>
    private LayerWeights Writable()
    {
        Pin();
        return this;
    }

    private HeadMinerException Missing(string name) =>
        new($"{source}: blocks.{Layer}.{name} is not in the checkpoint (it was loaded weights-only); this operation needs it");
}

/// <summary>The whole model's weights in TransformerLens's layout. See <see cref="LayerWeights"/>.</summary>
public sealed class TransformerWeights(string source, LayerWeights[] blocks)
{
    private Tensor? _we, _wu;

    public string Source { get; } = source;
    public LayerWeights[] Blocks { get; } = blocks;

    /// <summary>Token embedding [vocab, d_model].</summary>
    public Tensor W_E { get => _we ?? throw Missing("W_E (token embedding)"); set => _we = value; }

    /// <summary>Learned positional embedding [n_ctx, d_model]; null for rotary models.</summary>
    public Tensor? W_pos { get; set; }

    public Tensor? LnFinalWeight { get; set; }
    public Tensor? LnFinalBias { get; set; }

    /// <summary>Unembedding [d_model, vocab] (a transposed view of W_E when tied).</summary>
    public Tensor W_U { get => _wu ?? throw Missing("W_U (unembedding)"); set => _wu = value; }
    public Tensor? b_U { get; set; }

    public bool HasEmbedding => _we is not null;
    public bool HasUnembedding => _wu is not null;

    /// <summary>True when every tensor a forward pass needs is present.</summary>
    public bool IsRunnable => HasEmbedding && HasUnembedding && Blocks.All(b => b.HasAttention && b.HasMlp);

    private HeadMinerException Missing(string name) =>
        new($"{Source}: {name} is not in the checkpoint (it was loaded weights-only); this operation needs it");
}
