using static HeadMiner.Models.Architectures.LayoutViews;

namespace HeadMiner.Models.Architectures;

/// <summary>
/// GPT-NeoX / Pythia: fused query_key_value whose output rows are grouped per head as [head, (q|k|v), d_head],
/// partial rotary (rotary_pct of each head, rotate-half), usually parallel attention and MLP, separate embed_out.
/// </summary>
public sealed class GptNeoX : IArchitecture
{
    public IReadOnlyList<string> ModelTypes { get; } = ["gpt_neox"];

    public ModelConfig ParseConfig(HfConfig c)
    {
        int d = c.Int(1, ModelConfig.MaxWidth, "hidden_size");
        int heads = c.Int(1, ModelConfig.MaxHeads, "num_attention_heads");
        int layers = c.Int(1, ModelConfig.MaxLayers, "num_hidden_layers");
        int vocab = c.Int(1, ModelConfig.MaxVocab, "vocab_size");
        if (d % heads != 0) throw new HeadMinerException($"{c.Path}: hidden_size {d} is not divisible by num_attention_heads {heads}");
        int dh = d / heads;
        string pctKey = c.Has("rotary_pct") ? "rotary_pct" : "partial_rotary_factor";
        double pct = c.DoubleOr(0.25, NumberRange.Fraction, pctKey);
        // Hugging Face truncates: rotary_ndims = int(head_size * rotary_pct); our kernels rotate pairs.
        int rotary = (int)(dh * pct);
        if (rotary == 0 || rotary % 2 != 0)
            throw new HeadMinerException($"{c.Path}: \"{pctKey}\" {pct} of the head size {dh} gives {rotary} rotary dimensions; it must give a positive even number");
        return new ModelConfig
        {
            Architecture = "gpt_neox",
            VocabSize = vocab,
            DModel = d,
            Layers = layers,
            Heads = heads,
            KvHeads = heads,
            DHead = dh,
            DMlp = c.Int(1, ModelConfig.MaxMlp, "intermediate_size"),
            ContextLength = c.Int(1, ModelConfig.MaxContext, "max_position_embeddings"),
            Norm = NormKind.LayerNorm,
            NormEps = c.EpsilonOr(1e-5, "layer_norm_eps"),
            Activation = Gpt2.Activation(c),
            ParallelAttnMlp = c.BoolOr(true, "use_parallel_residual"),
            RotaryDim = rotary,
            RotaryStyle = Tensors.Kernels.RotaryStyle.RotateHalf,
            RopeTheta = c.DoubleOr(10000, NumberRange.RotaryBase, "rope_theta", "rotary_emb_base"),
            AttentionScale = 1f / MathF.Sqrt(dh),
            AttentionWindow = new int[layers],
            TiedEmbeddings = c.BoolOr(false, "tie_word_embeddings"),
            BosTokenId = c.TokenIdOrNull("bos_token_id", vocab),
            EosTokenId = c.TokenIdOrNull("eos_token_id", vocab),
        };
    }

    public LayerWeights LoadLayer(ModelConfig cfg, WeightReader r, int l)
    {
        int d = cfg.DModel, h = cfg.Heads, dh = cfg.DHead, m = cfg.DMlp;
        string p = $"gpt_neox.layers.{l}.";
        var b = new LayerWeights(l, r.Source.Source)
        {
            Ln1Weight = r.Get(p + "input_layernorm.weight", d),
            Ln1Bias = r.Get(p + "input_layernorm.bias", d),
            Ln2Weight = r.Get(p + "post_attention_layernorm.weight", d),
            Ln2Bias = r.Get(p + "post_attention_layernorm.bias", d),
            b_O = r.Optional(p + "attention.dense.bias", d),
            b_in = r.Optional(p + "mlp.dense_h_to_4h.bias", m),
            b_out = r.Optional(p + "mlp.dense_4h_to_h.bias", d),
        };
        // Output row (head, part, j) of query_key_value is row head·3·dh + part·dh + j.
        if (r.Get(p + "attention.query_key_value.weight", 3 * d, d) is { } qkv)
        {
            b.W_Q = HeadsFromOutIn(qkv, 0, h, dh, 3 * dh);
            b.W_K = HeadsFromOutIn(qkv, dh, h, dh, 3 * dh);
            b.W_V = HeadsFromOutIn(qkv, 2 * dh, h, dh, 3 * dh);
        }
        if (r.Optional(p + "attention.query_key_value.bias", 3 * d) is { } qkvBias)
        {
            b.b_Q = HeadBias(qkvBias, 0, h, dh, 3 * dh);
            b.b_K = HeadBias(qkvBias, dh, h, dh, 3 * dh);
            b.b_V = HeadBias(qkvBias, 2 * dh, h, dh, 3 * dh);
        }
        if (r.Get(p + "attention.dense.weight", d, d) is { } o) b.W_O = OutputFromOutIn(o, h, dh);
        if (r.Get(p + "mlp.dense_h_to_4h.weight", m, d) is { } up) b.W_in = InOutFromOutIn(up);
        if (r.Get(p + "mlp.dense_4h_to_h.weight", d, m) is { } down) b.W_out = InOutFromOutIn(down);
        return b;
    }

    public TransformerWeights LoadGlobals(ModelConfig cfg, WeightReader r, LayerWeights[] blocks)
    {
        int d = cfg.DModel;
        var w = new TransformerWeights(r.Source.Source, blocks)
        {
            LnFinalWeight = r.Get("gpt_neox.final_layer_norm.weight", d),
            LnFinalBias = r.Get("gpt_neox.final_layer_norm.bias", d),
        };
        if (r.Get("gpt_neox.embed_in.weight", cfg.VocabSize, d) is { } embed) w.W_E = embed;
        var unembed = cfg.TiedEmbeddings && !r.Contains("embed_out.weight") ? (w.HasEmbedding ? w.W_E : null) : r.Get("embed_out.weight", cfg.VocabSize, d);
        if (unembed is not null) w.W_U = unembed.Transpose(0, 1);
        return w;
    }
}
