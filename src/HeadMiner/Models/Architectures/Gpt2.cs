using static HeadMiner.Models.Architectures.LayoutViews;

namespace HeadMiner.Models.Architectures;

/// <summary>
/// GPT-2 (Hugging Face GPT2Model / GPT2LMHeadModel): learned positions, pre-LayerNorm, Conv1D weights stored
/// [in, out], fused c_attn with Q | K | V column blocks, GELU (tanh), unembedding tied to wte.
/// </summary>
public sealed class Gpt2 : IArchitecture
{
    public IReadOnlyList<string> ModelTypes { get; } = ["gpt2"];

    public IReadOnlyList<string> Prefixes { get; } = ["transformer.", ""];

    public ModelConfig ParseConfig(HfConfig c)
    {
        int d = c.Int(1, ModelConfig.MaxWidth, "n_embd", "hidden_size");
        int heads = c.Int(1, ModelConfig.MaxHeads, "n_head", "num_attention_heads");
        int layers = c.Int(1, ModelConfig.MaxLayers, "n_layer", "num_hidden_layers");
        int vocab = c.Int(1, ModelConfig.MaxVocab, "vocab_size");
        if (c.BoolOr(false, "scale_attn_by_inverse_layer_idx"))
            throw new HeadMinerException($"{c.Path}: scale_attn_by_inverse_layer_idx is not supported");
        if (d % heads != 0) throw new HeadMinerException($"{c.Path}: n_embd {d} is not divisible by n_head {heads}");
        return new ModelConfig
        {
            Architecture = "gpt2",
            VocabSize = vocab,
            DModel = d,
            Layers = layers,
            Heads = heads,
            KvHeads = heads,
            DHead = d / heads,
            DMlp = c.IntOr(4 * d, 1, ModelConfig.MaxMlp, "n_inner"),
            ContextLength = c.Int(1, ModelConfig.MaxContext, "n_positions", "n_ctx"),
            Norm = NormKind.LayerNorm,
            NormEps = c.EpsilonOr(1e-5, "layer_norm_epsilon"),
            Activation = Activation(c),
            LearnedPositions = true,
            AttentionScale = c.BoolOr(true, "scale_attn_weights") ? 1f / MathF.Sqrt(d / heads) : 1f,
            AttentionWindow = new int[layers],
            TiedEmbeddings = true,
            BosTokenId = c.TokenIdOrNull("bos_token_id", vocab),
            EosTokenId = c.TokenIdOrNull("eos_token_id", vocab),
        };
    }

    internal static MlpActivation Activation(HfConfig c)
    {
        string act = c.StringOr("gelu_new", c.Has("activation_function") ? "activation_function" : "hidden_act");
        return act switch
        {
            "gelu_new" or "gelu_pytorch_tanh" or "gelu_fast" => MlpActivation.GeluTanh,
            "gelu" => MlpActivation.GeluErf,
            _ => throw new HeadMinerException($"{c.Path}: activation \"{act}\" is not supported (gelu_new, gelu_pytorch_tanh, gelu)"),
        };
    }

    public LayerWeights LoadLayer(ModelConfig cfg, WeightReader r, int l)
    {
        int d = cfg.DModel, h = cfg.Heads, dh = cfg.DHead, m = cfg.DMlp;
        string p = $"h.{l}.";
        var b = new LayerWeights(l, r.Source.Source)
        {
            Ln1Weight = r.Get(p + "ln_1.weight", d),
            Ln1Bias = r.Get(p + "ln_1.bias", d),
            Ln2Weight = r.Get(p + "ln_2.weight", d),
            Ln2Bias = r.Get(p + "ln_2.bias", d),
            b_O = r.Get(p + "attn.c_proj.bias", d),
            b_in = r.Get(p + "mlp.c_fc.bias", m),
            b_out = r.Get(p + "mlp.c_proj.bias", d),
        };
        if (r.Get(p + "attn.c_attn.weight", d, 3 * d) is { } qkv)
        {
            b.W_Q = HeadsFromInOut(qkv, 0, h, dh);
            b.W_K = HeadsFromInOut(qkv, d, h, dh);
            b.W_V = HeadsFromInOut(qkv, 2 * d, h, dh);
        }
        if (r.Get(p + "attn.c_attn.bias", 3 * d) is { } qkvBias)
        {
            b.b_Q = HeadBias(qkvBias, 0, h, dh);
            b.b_K = HeadBias(qkvBias, d, h, dh);
            b.b_V = HeadBias(qkvBias, 2 * d, h, dh);
        }
        if (r.Get(p + "attn.c_proj.weight", d, d) is { } proj) b.W_O = OutputFromInOut(proj, h, dh);
        if (r.Get(p + "mlp.c_fc.weight", d, m) is { } fc) b.W_in = fc;
        if (r.Get(p + "mlp.c_proj.weight", m, d) is { } down) b.W_out = down;
        return b;
    }

    public TransformerWeights LoadGlobals(ModelConfig cfg, WeightReader r, LayerWeights[] blocks) => LoadTiedLearnedPositionGlobals(cfg, r, blocks);

    /// <summary>wte (tied unembedding), wpe and ln_f: shared by GPT-2 and GPT-Neo, which name them the same.</summary>
    internal static TransformerWeights LoadTiedLearnedPositionGlobals(ModelConfig cfg, WeightReader r, LayerWeights[] blocks)
    {
        int d = cfg.DModel;
        var w = new TransformerWeights(r.Source.Source, blocks)
        {
            W_pos = r.Get("wpe.weight", cfg.ContextLength, d),
            LnFinalWeight = r.Get("ln_f.weight", d),
            LnFinalBias = r.Get("ln_f.bias", d),
        };
        if (r.Get("wte.weight", cfg.VocabSize, d) is { } wte)
        {
            w.W_E = wte;
            w.W_U = wte.Transpose(0, 1);
        }
        return w;
    }
}
