using System.Globalization;
using System.Text.Json;
using HeadMiner.Models.Formats;
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
        int d = c.Int(1, ModelConfig.MaxWidth, "hidden_size");
        int heads = c.Int(1, ModelConfig.MaxHeads, "num_heads");
        int layers = c.Int(1, ModelConfig.MaxLayers, "num_layers");
        int vocab = c.Int(1, ModelConfig.MaxVocab, "vocab_size");
        if (d % heads != 0) throw new HeadMinerException($"{c.Path}: hidden_size {d} is not divisible by num_heads {heads}");
        int window = c.IntOr(256, 1, ModelConfig.MaxContext, "window_size");
        var kinds = AttentionLayers(c, layers);
        return new ModelConfig
        {
            Architecture = "gpt_neo",
            VocabSize = vocab,
            DModel = d,
            Layers = layers,
            Heads = heads,
            KvHeads = heads,
            DHead = d / heads,
            DMlp = c.IntOr(4 * d, 1, ModelConfig.MaxMlp, "intermediate_size"),
            ContextLength = c.Int(1, ModelConfig.MaxContext, "max_position_embeddings"),
            Norm = NormKind.LayerNorm,
            NormEps = c.EpsilonOr(1e-5, "layer_norm_epsilon"),
            Activation = Gpt2.Activation(c),
            LearnedPositions = true,
            AttentionScale = 1f, // GPT-Neo does not scale q·k.
            AttentionWindow = kinds.Select(k => k == "local" ? window : 0).ToArray(),
            TiedEmbeddings = true,
            BosTokenId = c.TokenIdOrNull("bos_token_id", vocab),
            EosTokenId = c.TokenIdOrNull("eos_token_id", vocab),
        };
    }

    /// <summary>
    /// Expands attention_types ([[["global","local"], 12]]) to one entry per layer. The structure is checked as it is
    /// walked, and the expansion stops as soon as it passes num_layers, so a lying repeat count allocates nothing.
    /// </summary>
    private static string[] AttentionLayers(HfConfig c, int layers)
    {
        var result = new List<string>();
        string source;
        if (c.Element("attention_types") is { } types)
        {
            source = "attention_types";
            const string Shape = "a list of [[\"global\" or \"local\", …], repeat count] pairs";
            if (types.ValueKind != JsonValueKind.Array) throw c.Bad(source, types, Shape);
            foreach (var group in types.EnumerateArray())
            {
                if (group.ValueKind != JsonValueKind.Array || group.GetArrayLength() != 2 || group[0].ValueKind != JsonValueKind.Array)
                    throw c.Bad(source, types, Shape);
                var kinds = AttentionKinds(c, source, group[0]);
                int repeat = c.ReadInt(source, group[1], 0, ModelConfig.MaxLayers);
                for (int i = 0; i < repeat && result.Count <= layers; i++) result.AddRange(kinds);
            }
        }
        else if (c.Element("attention_layers") is { } list)
        {
            source = "attention_layers";
            if (list.ValueKind != JsonValueKind.Array) throw c.Bad(source, list, "a list of \"global\" or \"local\"");
            result.AddRange(AttentionKinds(c, source, list));
        }
        else
        {
            return Enumerable.Repeat("global", layers).ToArray();
        }
        if (result.Count != layers)
            throw new HeadMinerException($"{c.Path}: \"{source}\" lists {(result.Count > layers ? "more than " + layers : result.Count.ToString(CultureInfo.InvariantCulture))} layers but num_layers is {layers}");
        return [.. result];
    }

    private static string[] AttentionKinds(HfConfig c, string key, JsonElement list) =>
        list.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String && e.GetString() is "global" or "local"
            ? e.GetString()!
            : throw new HeadMinerException($"{c.Path}: \"{key}\" has attention type {ErrorText.Clip(e.GetRawText(), 60)}; each must be \"global\" or \"local\"")).ToArray();

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
