using static HeadMiner.Models.Architectures.LayoutViews;

namespace HeadMiner.Models.Architectures;

/// <summary>
/// The shared reading of Llama-style checkpoints (Llama 2/3, TinyLlama, Mistral, Qwen2): RMSNorm, rotary
/// (rotate-half, as Hugging Face checkpoints are permuted for it), grouped-query attention, SwiGLU MLP, nn.Linear
/// weights. The concrete files say only what differs: biases, sliding windows.
/// </summary>
public abstract class LlamaFamily : IArchitecture
{
    public abstract IReadOnlyList<string> ModelTypes { get; }

    /// <summary>Sliding window per layer (0 = global).</summary>
    protected virtual int[] Windows(HfConfig c, int layers) => new int[layers];

    public ModelConfig ParseConfig(HfConfig c)
    {
        int d = c.Int("hidden_size");
        int heads = c.Int("num_attention_heads");
        int layers = c.Int("num_hidden_layers");
        int kv = c.IntOr(heads, "num_key_value_heads");
        int dh = c.IntOr(heads > 0 && d % heads == 0 ? d / heads : 0, "head_dim");
        if (dh <= 0) throw new HeadMinerException($"{c.Path}: hidden_size {d} is not divisible by num_attention_heads {heads} and no head_dim is given");
        string act = c.StringOr("silu", "hidden_act");
        if (act != "silu") throw new HeadMinerException($"{c.Path}: hidden_act \"{act}\" is not supported for {ModelTypes[0]} (silu)");
        return new ModelConfig
        {
            Architecture = c.ModelType ?? ModelTypes[0],
            VocabSize = c.Int("vocab_size"),
            DModel = d,
            Layers = layers,
            Heads = heads,
            KvHeads = kv,
            DHead = dh,
            DMlp = c.Int("intermediate_size"),
            ContextLength = c.Int("max_position_embeddings"),
            Norm = NormKind.RmsNorm,
            NormEps = (float)c.DoubleOr(1e-6, "rms_norm_eps"),
            Activation = MlpActivation.SwiGlu,
            RotaryDim = dh,
            RotaryStyle = Tensors.Kernels.RotaryStyle.RotateHalf,
            RopeTheta = c.DoubleOr(10000, "rope_theta"),
            RopeScaling = ParseRopeScaling(c),
            AttentionScale = 1f / MathF.Sqrt(dh),
            AttentionWindow = Windows(c, layers),
            TiedEmbeddings = c.BoolOr(false, "tie_word_embeddings"),
            BosTokenId = c.IntOrNull("bos_token_id"),
            EosTokenId = c.IntOrNull("eos_token_id"),
        };
    }

    private static RopeScaling? ParseRopeScaling(HfConfig c)
    {
        if (c.Element("rope_scaling") is not { } s || s.ValueKind != System.Text.Json.JsonValueKind.Object) return null;
        string type = s.TryGetProperty("rope_type", out var t) || s.TryGetProperty("type", out t) ? t.GetString() ?? "" : "";
        double Num(string key, double fallback) => s.TryGetProperty(key, out var v) && v.ValueKind == System.Text.Json.JsonValueKind.Number ? v.GetDouble() : fallback;
        return type switch
        {
            "default" => null,
            "llama3" => new RopeScaling(Num("factor", 8), Num("low_freq_factor", 1), Num("high_freq_factor", 4), (int)Num("original_max_position_embeddings", 8192)),
            _ => throw new HeadMinerException($"{c.Path}: rope_scaling type \"{type}\" is not supported (llama3)"),
        };
    }

    public LayerWeights LoadLayer(ModelConfig cfg, WeightReader r, int l)
    {
        int d = cfg.DModel, h = cfg.Heads, kv = cfg.KvHeads, dh = cfg.DHead, m = cfg.DMlp;
        // q/k/v biases: always in Qwen2, present in Llama checkpoints saved with attention_bias.
        bool bias = cfg.Architecture == "qwen2" || r.Contains("model.layers.0.self_attn.q_proj.bias");
        string p = $"model.layers.{l}.";
        var b = new LayerWeights(l, r.Source.Source)
        {
            Ln1Weight = r.Get(p + "input_layernorm.weight", d),
            Ln2Weight = r.Get(p + "post_attention_layernorm.weight", d),
            b_O = r.Optional(p + "self_attn.o_proj.bias", d),
        };
        if (r.Get(p + "self_attn.q_proj.weight", h * dh, d) is { } q) b.W_Q = HeadsFromOutIn(q, 0, h, dh);
        if (r.Get(p + "self_attn.k_proj.weight", kv * dh, d) is { } k) b.W_K = HeadsFromOutIn(k, 0, kv, dh);
        if (r.Get(p + "self_attn.v_proj.weight", kv * dh, d) is { } v) b.W_V = HeadsFromOutIn(v, 0, kv, dh);
        if (r.Get(p + "self_attn.o_proj.weight", d, h * dh) is { } o) b.W_O = OutputFromOutIn(o, h, dh);
        if (bias)
        {
            if (r.Get(p + "self_attn.q_proj.bias", h * dh) is { } bq) b.b_Q = HeadBias(bq, 0, h, dh);
            if (r.Get(p + "self_attn.k_proj.bias", kv * dh) is { } bk) b.b_K = HeadBias(bk, 0, kv, dh);
            if (r.Get(p + "self_attn.v_proj.bias", kv * dh) is { } bv) b.b_V = HeadBias(bv, 0, kv, dh);
        }
        if (r.Get(p + "mlp.gate_proj.weight", m, d) is { } gate) b.W_gate = InOutFromOutIn(gate);
        if (r.Get(p + "mlp.up_proj.weight", m, d) is { } up) b.W_in = InOutFromOutIn(up);
        if (r.Get(p + "mlp.down_proj.weight", d, m) is { } down) b.W_out = InOutFromOutIn(down);
        return b;
    }

    public TransformerWeights LoadGlobals(ModelConfig cfg, WeightReader r, LayerWeights[] blocks)
    {
        int d = cfg.DModel;
        // q/k/v biases: always in Qwen2, present in Llama checkpoints saved with attention_bias.
        bool bias = cfg.Architecture == "qwen2" || r.Contains("model.layers.0.self_attn.q_proj.bias");
        var w = new TransformerWeights(r.Source.Source, blocks)
        {
            LnFinalWeight = r.Get("model.norm.weight", d),
        };
        if (r.Get("model.embed_tokens.weight", cfg.VocabSize, d) is { } embed) w.W_E = embed;
        var unembed = cfg.TiedEmbeddings && !r.Contains("lm_head.weight") ? (w.HasEmbedding ? w.W_E : null) : r.Get("lm_head.weight", cfg.VocabSize, d);
        if (unembed is not null) w.W_U = unembed.Transpose(0, 1);
        return w;
    }
}

/// <summary>Llama 2 / 3, TinyLlama (and anything else saved as model_type "llama").</summary>
public sealed class Llama : LlamaFamily
{
    public override IReadOnlyList<string> ModelTypes { get; } = ["llama"];
}
