using System.Text.Json;
using HeadMiner.Models.Formats;
using HeadMiner.Tensors;

namespace HeadMiner.Models.Architectures;

/// <summary>
/// The Gemma family on the Llama skeleton: GeGLU MLP with a tanh-GELU gate, token embeddings times √hidden_size
/// (<see cref="ModelConfig.EmbeddingMultiplier"/>), head_dim from config.json, tied embeddings, and RMSNorms that
/// multiply by (1 + w) — the checkpoint stores the offset w. The +1 is folded into every norm weight at load (a small
/// copy per norm, as TransformerLens's Gemma conversion does), so the shared forward pass, weight folding and every
/// hook see ordinary RMSNorm weights (hook_scale/hook_normalized are unchanged by it). The concrete files add what
/// differs: Gemma 2's soft caps, pre+post norms and alternating sliding layers; Gemma 3's QK-norm and per-layer-type
/// rotary.
/// </summary>
public abstract class GemmaFamily : LlamaFamily
{
    /// <summary>Gemma 1 has pre-norms only; Gemma 2/3 override this for norms after both sublayers too.</summary>
    protected override bool PostNorm => false;

    /// <summary>Which layers slide, by HF's rule for the family when config.json has no layer_types.</summary>
    protected virtual bool DefaultSliding(HfConfig c, int layer) => false;

    public override ModelConfig ParseConfig(HfConfig c)
    {
        int d = c.Int(1, ModelConfig.MaxWidth, "hidden_size");
        int heads = c.Int(1, ModelConfig.MaxHeads, "num_attention_heads");
        int layers = c.Int(1, ModelConfig.MaxLayers, "num_hidden_layers");
        int vocab = c.Int(1, ModelConfig.MaxVocab, "vocab_size");
        int kv = c.IntOr(heads, 1, heads, "num_key_value_heads");
        if (heads % kv != 0)
            throw new HeadMinerException($"{c.Path}: num_attention_heads {heads} is not a multiple of num_key_value_heads {kv}");
        // Every Gemma config gives head_dim (gemma-7b's 256 is not 3072/16); the HF config classes default it to 256.
        int dh = c.IntOr(256, 1, ModelConfig.MaxWidth, "head_dim");
        if (dh % 2 != 0) throw new HeadMinerException($"{c.Path}: head_dim {dh} must be even for rotary embeddings");
        // hidden_activation wins where both are given (gemma-2b writes hidden_act "gelu" beside hidden_activation
        // "gelu_pytorch_tanh", the function it was trained with).
        string actKey = c.Has("hidden_activation") ? "hidden_activation" : "hidden_act";
        string act = c.StringOr("gelu_pytorch_tanh", actKey);
        if (act is not ("gelu_pytorch_tanh" or "gelu_new" or "gelu_fast"))
            throw new HeadMinerException($"{c.Path}: {actKey} \"{ErrorText.Clip(act, 60)}\" is not supported for {ModelTypes[0]} (gelu_pytorch_tanh)");
        var windows = Windows(c, layers);
        var rope = ParseRope(c, "full_attention");
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
            NormEps = c.EpsilonOr(1e-6, "rms_norm_eps"),
            Activation = MlpActivation.GeGluTanh,
            RotaryDim = dh,
            RotaryStyle = Tensors.Kernels.RotaryStyle.RotateHalf,
            RopeTheta = rope.Theta,
            RopeScaling = rope.Llama3,
            RopeLinearFactor = rope.LinearFactor,
            LocalRopeTheta = LocalRopeTheta(c),
            AttentionScale = AttentionScale(c, dh),
            AttentionWindow = windows,
            AttentionSoftCap = SoftCap(c, "attn_logit_softcapping"),
            FinalLogitSoftCap = SoftCap(c, "final_logit_softcapping"),
            EmbeddingMultiplier = MathF.Sqrt(d),
            QkNorm = QkNorm,
            PreNorm = true,
            PostNorm = PostNorm,
            TiedEmbeddings = c.BoolOr(true, "tie_word_embeddings"),
            BosTokenId = c.TokenIdOrNull("bos_token_id", vocab),
            EosTokenId = c.TokenIdOrNull("eos_token_id", vocab),
        };
    }

    /// <summary>Gemma 1: 1/√head_dim. Gemma 2/3: query_pre_attn_scalar^-½.</summary>
    protected virtual float AttentionScale(HfConfig c, int dh) => 1f / MathF.Sqrt(dh);

    /// <summary>Gemma 3's rope_local_base_freq for the sliding layers; null for Gemma 1/2 (one setting throughout).</summary>
    protected virtual double? LocalRopeTheta(HfConfig c) => null;

    /// <summary>A soft cap: absent or null for none, else a positive number.</summary>
    protected static float? SoftCap(HfConfig c, string key)
    {
        if (!c.Has(key)) return null;
        double cap = c.DoubleOr(0, NumberRange.Positive, key);
        float narrowed = (float)cap;
        if (!(narrowed > 0 && float.IsFinite(narrowed))) throw c.Bad(key, c.Element(key)!.Value, "a positive number representable as float32");
        return narrowed;
    }

    /// <summary>
    /// Sliding window per layer: layer_types ("sliding_attention" / "full_attention") when config.json has it, else
    /// the family's default rule, with sliding_window (required once any layer slides) as the window.
    /// </summary>
    protected override int[] Windows(HfConfig c, int layers)
    {
        var sliding = new bool[layers];
        if (c.Element("layer_types") is { } types)
        {
            if (types.ValueKind != JsonValueKind.Array || types.GetArrayLength() != layers)
                throw c.Bad("layer_types", types, $"a list of {layers} layer types (one per num_hidden_layers)");
            int i = 0;
            foreach (var t in types.EnumerateArray())
            {
                sliding[i] = t.ValueKind == JsonValueKind.String ? t.GetString() switch
                {
                    "sliding_attention" => true,
                    "full_attention" => false,
                    _ => throw c.Bad($"layer_types[{i}]", t, "\"sliding_attention\" or \"full_attention\""),
                } : throw c.Bad($"layer_types[{i}]", t, "\"sliding_attention\" or \"full_attention\"");
                i++;
            }
        }
        else
            for (int l = 0; l < layers; l++) sliding[l] = DefaultSliding(c, l);
        var windows = new int[layers];
        if (!sliding.Any(s => s)) return windows;
        int window = c.Int(1, ModelConfig.MaxContext, "sliding_window");
        for (int l = 0; l < layers; l++) windows[l] = sliding[l] ? window : 0;
        return windows;
    }

    public override LayerWeights LoadLayer(ModelConfig cfg, WeightReader r, int l)
    {
        var b = base.LoadLayer(cfg, r, l);
        string p = $"model.layers.{l}.";
        if (cfg.PostNorm)
        {
            // Gemma 2/3: post_attention_layernorm normalises the attention output (read as ln1_post by the base, as
            // OLMo-2's), input_layernorm and pre_feedforward_layernorm are the pre-norms.
            b.Ln1Weight = r.Get(p + "input_layernorm.weight", cfg.DModel);
            b.Ln2Weight = r.Get(p + "pre_feedforward_layernorm.weight", cfg.DModel);
        }
        b.Ln1Weight = PlusOne(b.Ln1Weight);
        b.Ln2Weight = PlusOne(b.Ln2Weight);
        b.Ln1PostWeight = PlusOne(b.Ln1PostWeight);
        b.Ln2PostWeight = PlusOne(b.Ln2PostWeight);
        b.QNormWeight = PlusOne(b.QNormWeight);
        b.KNormWeight = PlusOne(b.KNormWeight);
        return b;
    }

    public override TransformerWeights LoadGlobals(ModelConfig cfg, WeightReader r, LayerWeights[] blocks)
    {
        var w = base.LoadGlobals(cfg, r, blocks);
        w.LnFinalWeight = PlusOne(w.LnFinalWeight);
        return w;
    }

    /// <summary>1 + w as a new float32 tensor (Gemma's norms store the offset from 1).</summary>
    private static Tensor? PlusOne(Tensor? w)
    {
        if (w is null) return null;
        var values = w.Contiguous().Span.ToArray();
        for (int i = 0; i < values.Length; i++) values[i] += 1f;
        return Tensor.Wrap(values, w.Shape.ToArray());
    }
}

/// <summary>Gemma (1): gemma-2b/7b. Multi-query attention in gemma-2b, head_dim 256.</summary>
public sealed class Gemma : GemmaFamily
{
    public override IReadOnlyList<string> ModelTypes { get; } = ["gemma"];
}
