using static HeadMiner.Models.Architectures.LayoutViews;

namespace HeadMiner.Models.Architectures;

/// <summary>
/// GPT-Neo: GPT-2-like with separate nn.Linear q/k/v (no bias), no 1/√d scaling of attention scores, and layers
/// alternating global and local (sliding-window) attention as listed in attention_types.
/// </summary>
public sealed class GptNeo : IArchitecture
{
    public IReadOnlyList<string> ModelTypes { get; } = ["gpt_neo"];

    public IReadOnlyList<string> Prefixes { get; } = ["transformer.", ""];

    public ModelConfig ParseConfig(HfConfig c)
    {
        int d = c.Int("hidden_size");
        int heads = c.Int("num_heads");
        int layers = c.Int("num_layers");
        if (heads <= 0 || d % heads != 0) throw new HeadMinerException($"{c.Path}: hidden_size {d} is not divisible by num_heads {heads}");
        int window = c.IntOr(256, "window_size");
        var kinds = AttentionLayers(c, layers);
        return new ModelConfig
        {
            Architecture = "gpt_neo",
            VocabSize = c.Int("vocab_size"),
            DModel = d,
            Layers = layers,
            Heads = heads,
            KvHeads = heads,
            DHead = d / heads,
            DMlp = c.IntOr(4 * d, "intermediate_size"),
            ContextLength = c.Int("max_position_embeddings"),
            Norm = NormKind.LayerNorm,
            NormEps = (float)c.DoubleOr(1e-5, "layer_norm_epsilon"),
            Activation = Gpt2.Activation(c),
            LearnedPositions = true,
            AttentionScale = 1f, // GPT-Neo does not scale q·k.
            AttentionWindow = kinds.Select(k => k == "local" ? window : 0).ToArray(),
            TiedEmbeddings = true,
            BosTokenId = c.IntOrNull("bos_token_id"),
            EosTokenId = c.IntOrNull("eos_token_id"),
        };
    }

    /// <summary>Expands attention_types ([[["global","local"], 12]]) to one entry per layer.</summary>
    private static string[] AttentionLayers(HfConfig c, int layers)
    {
        var result = new List<string>();
        if (c.Element("attention_types") is { } types)
        {
            foreach (var group in types.EnumerateArray())
            {
                var kinds = group[0].EnumerateArray().Select(e => e.GetString() ?? "").ToArray();
                int repeat = group[1].GetInt32();
                for (int i = 0; i < repeat; i++) result.AddRange(kinds);
            }
        }
        else if (c.Element("attention_layers") is { } list)
        {
            result.AddRange(list.EnumerateArray().Select(e => e.GetString() ?? ""));
        }
        else
        {
            for (int i = 0; i < layers; i++) result.Add("global");
        }
        if (result.Count != layers)
            throw new HeadMinerException($"{c.Path}: attention_types lists {result.Count} layers but num_layers is {layers}");
        foreach (var k in result)
            if (k is not ("global" or "local")) throw new HeadMinerException($"{c.Path}: attention type \"{k}\" is not global or local");
        return [.. result];
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
            b_O = r.Get(p + "attn.attention.out_proj.bias", d),
            b_in = r.Get(p + "mlp.c_fc.bias", m),
            b_out = r.Get(p + "mlp.c_proj.bias", d),
        };
        if (r.Get(p + "attn.attention.q_proj.weight", d, d) is { } q) b.W_Q = HeadsFromOutIn(q, 0, h, dh);
        if (r.Get(p + "attn.attention.k_proj.weight", d, d) is { } k) b.W_K = HeadsFromOutIn(k, 0, h, dh);
        if (r.Get(p + "attn.attention.v_proj.weight", d, d) is { } v) b.W_V = HeadsFromOutIn(v, 0, h, dh);
        if (r.Get(p + "attn.attention.out_proj.weight", d, d) is { } o) b.W_O = OutputFromOutIn(o, h, dh);
        if (r.Get(p + "mlp.c_fc.weight", m, d) is { } fc) b.W_in = InOutFromOutIn(fc);
        if (r.Get(p + "mlp.c_proj.weight", d, m) is { } down) b.W_out = InOutFromOutIn(down);
        return b;
    }

    public TransformerWeights LoadGlobals(ModelConfig cfg, WeightReader r, LayerWeights[] blocks) => Gpt2.LoadTiedLearnedPositionGlobals(cfg, r, blocks);
}
