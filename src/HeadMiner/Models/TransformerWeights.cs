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

    public int Layer { get; } = layer;

    /// <summary>First norm (before attention). Null weight/bias = none (e.g. after folding).</summary>
    public Tensor? Ln1Weight { get; set; }
    public Tensor? Ln1Bias { get; set; }

    /// <summary>Second norm (before the MLP).</summary>
    public Tensor? Ln2Weight { get; set; }
    public Tensor? Ln2Bias { get; set; }

    public Tensor W_Q { get => _wq ?? throw Missing("attn.W_Q"); set => _wq = value; }
    public Tensor W_K { get => _wk ?? throw Missing("attn.W_K"); set => _wk = value; }
    public Tensor W_V { get => _wv ?? throw Missing("attn.W_V"); set => _wv = value; }
    public Tensor W_O { get => _wo ?? throw Missing("attn.W_O"); set => _wo = value; }
    public Tensor? b_Q { get; set; }
    public Tensor? b_K { get; set; }
    public Tensor? b_V { get; set; }
    public Tensor? b_O { get; set; }

    public Tensor W_in { get => _win ?? throw Missing("mlp.W_in"); set => _win = value; }

    /// <summary>Gate projection of a gated MLP (SwiGLU); null for a plain MLP.</summary>
    public Tensor? W_gate { get; set; }
    public Tensor W_out { get => _wout ?? throw Missing("mlp.W_out"); set => _wout = value; }
    public Tensor? b_in { get; set; }
    public Tensor? b_out { get; set; }

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
