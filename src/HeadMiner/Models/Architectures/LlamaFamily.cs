using System.Text.Json;
using HeadMiner.Models.Formats;
using static HeadMiner.Models.Architectures.LayoutViews;

namespace HeadMiner.Models.Architectures;

/// <summary>
/// The shared reading of Llama-style checkpoints (Llama 2/3, TinyLlama, Mistral, Qwen2, Qwen3, OLMo-2, Phi-3): RMSNorm,
/// rotary (rotate-half, as Hugging Face checkpoints are permuted for it), grouped-query attention, SwiGLU MLP, nn.Linear
/// weights. The concrete files say only what differs: biases, sliding windows, head size, QK-norm, norm placement,
/// Phi-3's fused projections and LongRoPE.
/// </summary>
public abstract class LlamaFamily : IArchitecture
{
    public abstract IReadOnlyList<string> ModelTypes { get; }

    /// <summary>Sliding window per layer (0 = global).</summary>
    protected virtual int[] Windows(HfConfig c, int layers) => new int[layers];

    /// <summary>The head size when config.json has no head_dim: null for hidden_size / num_attention_heads (Llama's rule).</summary>
    protected virtual int? DefaultHeadDim => null;

    /// <summary>Whether and how the family normalises q and k after projecting them (Qwen3, OLMo-2).</summary>
    protected virtual QkNormKind QkNorm => QkNormKind.None;

    /// <summary>Norms after each sublayer (OLMo-2; see <see cref="ModelConfig.PostNorm"/>).</summary>
    protected virtual bool PostNorm => false;

    /// <summary>Norms before each sublayer (all but OLMo-2; see <see cref="ModelConfig.PreNorm"/>).</summary>
    protected virtual bool PreNorm => true;

    /// <summary>rms_norm_eps when config.json omits it (the family's Hugging Face config default).</summary>
    protected virtual double DefaultRmsNormEps => 1e-6;

    public virtual ModelConfig ParseConfig(HfConfig c)
    {
        int d = c.Int(1, ModelConfig.MaxWidth, "hidden_size");
        int heads = c.Int(1, ModelConfig.MaxHeads, "num_attention_heads");
        int layers = c.Int(1, ModelConfig.MaxLayers, "num_hidden_layers");
        int vocab = c.Int(1, ModelConfig.MaxVocab, "vocab_size");
        int kv = c.IntOr(heads, 1, heads, "num_key_value_heads");
        if (heads % kv != 0)
            throw new HeadMinerException($"{c.Path}: num_attention_heads {heads} is not a multiple of num_key_value_heads {kv}");
        if (!c.Has("head_dim") && DefaultHeadDim is null && d % heads != 0)
            throw new HeadMinerException($"{c.Path}: hidden_size {d} is not divisible by num_attention_heads {heads} and no head_dim is given");
        int dh = c.IntOr(DefaultHeadDim ?? d / heads, 1, ModelConfig.MaxWidth, "head_dim");
        // Rotary rotates pairs of dimensions, so a head must have an even size.
        if (dh % 2 != 0) throw new HeadMinerException($"{c.Path}: the head size {dh} (head_dim, or hidden_size / num_attention_heads) must be even for rotary embeddings");
        string act = c.StringOr("silu", "hidden_act");
        if (act != "silu") throw new HeadMinerException($"{c.Path}: hidden_act \"{act}\" is not supported for {ModelTypes[0]} (silu)");
        var rope = ParseRope(c);
        return new ModelConfig
        {
            Architecture = c.ModelType ?? ModelTypes[0],
            VocabSize = vocab,
            DModel = d,
            Layers = layers,
            Heads = heads,
            KvHeads = kv,
            DHead = dh,
            DMlp = c.Int(1, ModelConfig.MaxMlp, "intermediate_size"),
            ContextLength = c.Int(1, ModelConfig.MaxContext, "max_position_embeddings"),
            Norm = NormKind.RmsNorm,
            NormEps = c.EpsilonOr(DefaultRmsNormEps, "rms_norm_eps"),
            Activation = MlpActivation.SwiGlu,
            RotaryDim = dh,
            RotaryStyle = Tensors.Kernels.RotaryStyle.RotateHalf,
            RopeTheta = rope.Theta,
            RopeScaling = rope.Llama3,
            RopeLinearFactor = rope.LinearFactor,
            AttentionScale = 1f / MathF.Sqrt(dh),
            AttentionWindow = Windows(c, layers),
            QkNorm = QkNorm,
            PreNorm = PreNorm,
            PostNorm = PostNorm,
            TiedEmbeddings = c.BoolOr(false, "tie_word_embeddings"),
            BosTokenId = c.TokenIdOrNull("bos_token_id", vocab),
            EosTokenId = c.TokenIdOrNull("eos_token_id", vocab),
        };
    }

    /// <summary>A rotary setting: base, and Llama-3 or linear scaling (at most one of them).</summary>
    public sealed record RopeSetting(double Theta, RopeScaling? Llama3, double LinearFactor);

    /// <summary>
    /// The rotary setting: transformers v5's rope_parameters when present (one dict with rope_type, rope_theta and the
    /// scaling fields — or, for a model with several layer types such as Gemma 3, one such dict per type, picked by
    /// <paramref name="layerType"/>), else rope_theta and rope_scaling. Virtual because Phi-3 reads rope_scaling as
    /// LongRoPE instead.
    /// </summary>
    protected virtual RopeSetting ParseRope(HfConfig c, string? layerType = null, double defaultTheta = 10000)
    {
        if (c.Element("rope_parameters") is { } p)
        {
            if (p.ValueKind != JsonValueKind.Object) throw c.Bad("rope_parameters", p, "an object or null");
            string key = "rope_parameters";
            if (layerType is not null && p.TryGetProperty(layerType, out var perType) && perType.ValueKind != JsonValueKind.Null)
            {
                key = $"rope_parameters.{layerType}";
                if (perType.ValueKind != JsonValueKind.Object) throw c.Bad(key, perType, "an object");
                p = perType;
            }
            double theta = p.TryGetProperty("rope_theta", out var t) && t.ValueKind != JsonValueKind.Null
                ? c.ReadDouble($"{key}.rope_theta", t, NumberRange.RotaryBase)
                : c.DoubleOr(defaultTheta, NumberRange.RotaryBase, "rope_theta");
            // v5 always writes rope_type; a dict without one carries only the base.
            bool typed = p.TryGetProperty("rope_type", out _) || p.TryGetProperty("type", out _);
            var (llama3, linear) = typed ? ParseScaling(c, p, key) : (null, 1);
            return new RopeSetting(theta, llama3, linear);
        }
        var (l3, lin) = c.Element("rope_scaling") is { } s ? ParseScaling(c, s, "rope_scaling") : (null, 1);
        return new RopeSetting(c.DoubleOr(defaultTheta, NumberRange.RotaryBase, "rope_theta"), l3, lin);
    }

    /// <summary>
    /// A rope_scaling (or rope_parameters) object <paramref name="s"/> found under <paramref name="key"/>: type
    /// "default", Llama 3's frequency-dependent scaling, or "linear" (every frequency divided by factor). Each field is
    /// range-checked here because a zero factor or high_freq_factor ≤ low_freq_factor divides by zero in the tables
    /// (NaN logits).
    /// </summary>
    protected static (RopeScaling? Llama3, double LinearFactor) ParseScaling(HfConfig c, JsonElement s, string key)
    {
        if (s.ValueKind != JsonValueKind.Object) throw c.Bad(key, s, "an object or null");
        string typeKey = s.TryGetProperty("rope_type", out var t) ? "rope_type" : s.TryGetProperty("type", out t) ? "type" : "";
        if (typeKey == "") throw new HeadMinerException($"{c.Path}: \"{key}\" has no \"rope_type\"");
        if (t.ValueKind != JsonValueKind.String) throw c.Bad($"{key}.{typeKey}", t, "a string");
        string type = t.GetString()!;
        double Num(string name, double fallback, NumberRange range) =>
            s.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? c.ReadDouble($"{key}.{name}", v, range) : fallback;
        switch (type)
        {
            case "default":
                return (null, 1);
            case "linear":
                if (!s.TryGetProperty("factor", out var f) || f.ValueKind == JsonValueKind.Null)
                    throw new HeadMinerException($"{c.Path}: \"{key}\" of type \"linear\" lacks \"factor\"");
                return (null, c.ReadDouble($"{key}.factor", f, NumberRange.Positive));
            case "llama3":
                double factor = Num("factor", 8, NumberRange.Positive);
                double low = Num("low_freq_factor", 1, NumberRange.Positive);
                double high = Num("high_freq_factor", 4, NumberRange.Positive);
                if (!(high > low))
                    throw new HeadMinerException($"{c.Path}: \"{key}.high_freq_factor\" {high} must be greater than \"{key}.low_freq_factor\" {low}");
                int original = s.TryGetProperty("original_max_position_embeddings", out var o) && o.ValueKind != JsonValueKind.Null
                    ? c.ReadInt($"{key}.original_max_position_embeddings", o, 1, ModelConfig.MaxContext)
                    : 8192;
                return (new RopeScaling(factor, low, high, original), 1);
            default:
                throw new HeadMinerException($"{c.Path}: {key} type \"{ErrorText.Clip(type, 60)}\" is not supported (default, linear, llama3)");
        }
    }

    public virtual LayerWeights LoadLayer(ModelConfig cfg, WeightReader r, int l)
    {
        int d = cfg.DModel, h = cfg.Heads, kv = cfg.KvHeads, dh = cfg.DHead, m = cfg.DMlp;
        // q/k/v biases: always in Qwen2, present in Llama checkpoints saved with attention_bias.
        bool bias = cfg.Architecture == "qwen2" || r.Contains("model.layers.0.self_attn.q_proj.bias");
        string p = $"model.layers.{l}.";
        var b = new LayerWeights(l, r.Source.Source) { b_O = r.Optional(p + "self_attn.o_proj.bias", d) };
        if (cfg.PostNorm)
        {
            // OLMo-2's post_attention_layernorm normalises the attention output (not the MLP input, as in Llama).
            b.Ln1PostWeight = r.Get(p + "post_attention_layernorm.weight", d);
            b.Ln2PostWeight = r.Get(p + "post_feedforward_layernorm.weight", d);
        }
        if (cfg.PreNorm && !cfg.PostNorm)
        {
            b.Ln1Weight = r.Get(p + "input_layernorm.weight", d);
            b.Ln2Weight = r.Get(p + "post_attention_layernorm.weight", d);
        }
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
        if (cfg.QkNorm != QkNormKind.None)
        {
            bool perHead = cfg.QkNorm == QkNormKind.PerHead;
            b.QNormWeight = r.Get(p + "self_attn.q_norm.weight", perHead ? dh : h * dh);
            b.KNormWeight = r.Get(p + "self_attn.k_norm.weight", perHead ? dh : kv * dh);
        }
        if (r.Get(p + "mlp.gate_proj.weight", m, d) is { } gate) b.W_gate = InOutFromOutIn(gate);
        if (r.Get(p + "mlp.up_proj.weight", m, d) is { } up) b.W_in = InOutFromOutIn(up);
        if (r.Get(p + "mlp.down_proj.weight", d, m) is { } down) b.W_out = InOutFromOutIn(down);
        return b;
    }

    public virtual TransformerWeights LoadGlobals(ModelConfig cfg, WeightReader r, LayerWeights[] blocks)
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
