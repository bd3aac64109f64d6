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

    public int Layer { get; } = layer;

    /// <summary>First norm (before attention). Null weight/bias = none (e.g. after folding).</summary>
    public Tensor? Ln1Weight { get => _ln1w; set => _ln1w = value; }
    public Tensor? Ln1Bias { get => _ln1b; set => _ln1b = value; }

    /// <summary>Second norm (before the MLP).</summary>
    public Tensor? Ln2Weight { get => _ln2w; set => _ln2w = value; }
    public Tensor? Ln2Bias { get => _ln2b; set => _ln2b = value; }

    /// <summary>Post-sublayer norms (<see cref="ModelConfig.PostNorm"/>, OLMo-2): on the attention output and on the MLP output.</summary>
    public Tensor? Ln1PostWeight { get => _ln1post; set => _ln1post = value; }
    public Tensor? Ln2PostWeight { get => _ln2post; set => _ln2post = value; }

    public Tensor W_Q { get => _wq ?? throw Missing("attn.W_Q"); set => _wq = value; }
    public Tensor W_K { get => _wk ?? throw Missing("attn.W_K"); set => _wk = value; }
    public Tensor W_V { get => _wv ?? throw Missing("attn.W_V"); set => _wv = value; }
    public Tensor W_O { get => _wo ?? throw Missing("attn.W_O"); set => _wo = value; }
    public Tensor? b_Q { get => _bq; set => _bq = value; }
    public Tensor? b_K { get => _bk; set => _bk = value; }
    public Tensor? b_V { get => _bv; set => _bv = value; }
    public Tensor? b_O { get => _bo; set => _bo = value; }

    /// <summary>QK-norm weights (<see cref="ModelConfig.QkNorm"/>): [d_head] per head, or [heads·d_head] / [kv_heads·d_head] over the whole projection.</summary>
    public Tensor? QNormWeight { get => _qnorm; set => _qnorm = value; }
    public Tensor? KNormWeight { get => _knorm; set => _knorm = value; }

    public Tensor W_in { get => _win ?? throw Missing("mlp.W_in"); set => _win = value; }

    /// <summary>Gate projection of a gated MLP (SwiGLU); null for a plain MLP.</summary>
    public Tensor? W_gate { get => _wgate; set => _wgate = value; }
    public Tensor W_out { get => _wout ?? throw Missing("mlp.W_out"); set => _wout = value; }
    public Tensor? b_in { get => _bin; set => _bin = value; }
    public Tensor? b_out { get => _bout; set => _bout = value; }

    public bool HasAttention => _wq is not null && _wk is not null && _wv is not null && _wo is not null;
    public bool HasMlp => _win is not null && _wout is not null;

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
