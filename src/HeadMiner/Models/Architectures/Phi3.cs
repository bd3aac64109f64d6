using System.Text.Json;
using HeadMiner.Models.Formats;
using static HeadMiner.Models.Architectures.LayoutViews;

namespace HeadMiner.Models.Architectures;

/// <summary>
/// Phi-3 / Phi-3.5-mini (and Phi-4-mini, also saved as "phi3"): Llama with q, k and v fused into one qkv_proj (rows q,
/// then k, then v) and gate and up fused into one gate_up_proj (gate rows first, as Hugging Face's Phi3MLP chunks
/// it), an optional sliding window on every layer, partial_rotary_factor, and LongRoPE scaling. The fused matrices
/// are split into strided views at load, so every hook and analysis sees the usual per-head W_Q/W_K/W_V and
/// W_gate/W_in; since the three views are adjacent rows of one matrix, the forward pass still runs one GEMM for them.
/// </summary>
public sealed class Phi3 : LlamaFamily
{
    public override IReadOnlyList<string> ModelTypes { get; } = ["phi3"];

    /// <summary>
    /// sliding_window: null, absent or 0 for global attention, else the window in tokens on every layer (as Mistral;
    /// current Hugging Face masks with it in every attention path, e.g. 2047 for Phi-3-mini-4k).
    /// </summary>
    protected override int[] Windows(HfConfig c, int layers) => Enumerable.Repeat(c.IntOr(0, 0, ModelConfig.MaxContext, "sliding_window"), layers).ToArray();

    /// <summary>Phi-3's rope_scaling is LongRoPE, read in <see cref="ParseConfig"/> once the rotary size is known.</summary>
    protected override RopeSetting ParseRope(HfConfig c, string? layerType = null, double defaultTheta = 10000) =>
        new(c.DoubleOr(defaultTheta, NumberRange.RotaryBase, "rope_theta"), null, 1);

    public override ModelConfig ParseConfig(HfConfig c)
    {
        var cfg = base.ParseConfig(c);
        double fraction = c.DoubleOr(1, NumberRange.Fraction, "partial_rotary_factor");
        // Hugging Face truncates: int(head_dim · partial_rotary_factor); our kernels rotate pairs.
        int rotary = (int)(cfg.DHead * fraction);
        if (rotary == 0 || rotary % 2 != 0)
            throw new HeadMinerException($"{c.Path}: \"partial_rotary_factor\" {fraction} of the head size {cfg.DHead} gives {rotary} rotary dimensions; it must give a positive even number");
        return cfg with { RotaryDim = rotary, LongRope = ParseLongRope(c, rotary, cfg.ContextLength) };
    }

    /// <summary>
    /// rope_scaling: null, "default", or type "longrope" ("su" in the first Phi-3 configs, which Hugging Face renames)
    /// with short_factor and long_factor, one positive factor per rotary frequency. original_max_position_embeddings
    /// comes from rope_scaling or the top level (where Phi-3 configs put it); the attention factor is
    /// rope_scaling.attention_factor, else derived from rope_scaling.factor, else from max_position_embeddings /
    /// original_max_position_embeddings (Hugging Face's _compute_longrope_parameters; releases before 4.5x let the
    /// ratio win over rope_scaling.factor whenever the top-level key exists — no released Phi-3 config has both).
    /// </summary>
    private static LongRopeScaling? ParseLongRope(HfConfig c, int rotaryDim, int maxPositions)
    {
        if (c.Element("rope_scaling") is not { } s) return null;
        if (s.ValueKind != JsonValueKind.Object) throw c.Bad("rope_scaling", s, "an object or null");
        string typeKey = s.TryGetProperty("rope_type", out var t) ? "rope_type" : s.TryGetProperty("type", out t) ? "type" : "";
        if (typeKey == "") throw new HeadMinerException($"{c.Path}: \"rope_scaling\" has no \"rope_type\"");
        if (t.ValueKind != JsonValueKind.String) throw c.Bad($"rope_scaling.{typeKey}", t, "a string");
        string type = t.GetString()!;
        if (type == "default") return null;
        if (type is not ("longrope" or "su"))
            throw new HeadMinerException($"{c.Path}: rope_scaling type \"{ErrorText.Clip(type, 60)}\" is not supported for phi3 (default, longrope, su)");

        double[] Factors(string key)
        {
            if (!s.TryGetProperty(key, out var list) || list.ValueKind == JsonValueKind.Null)
                throw new HeadMinerException($"{c.Path}: \"rope_scaling\" of type \"{type}\" lacks \"{key}\"");
            int expected = rotaryDim / 2;
            if (list.ValueKind != JsonValueKind.Array || list.GetArrayLength() != expected)
                throw c.Bad($"rope_scaling.{key}", list, $"a list of {expected} numbers (half the {rotaryDim} rotary dimensions)");
            var factors = new double[expected];
            int i = 0;
            foreach (var e in list.EnumerateArray()) { factors[i] = c.ReadDouble($"rope_scaling.{key}[{i}]", e, NumberRange.Positive); i++; }
            return factors;
        }
        bool Present(string key, out JsonElement v) => s.TryGetProperty(key, out v) && v.ValueKind != JsonValueKind.Null;

        var shortFactors = Factors("short_factor");
        var longFactors = Factors("long_factor");
        // The log of the original length divides the attention factor, so it must exceed 1.
        int original = Present("original_max_position_embeddings", out var o)
            ? c.ReadInt("rope_scaling.original_max_position_embeddings", o, 2, ModelConfig.MaxContext)
            : c.IntOr(maxPositions, 2, ModelConfig.MaxContext, "original_max_position_embeddings");
        double attention;
        if (Present("attention_factor", out var a)) attention = c.ReadDouble("rope_scaling.attention_factor", a, NumberRange.Positive);
        else
        {
            double scale = Present("factor", out var f) ? c.ReadDouble("rope_scaling.factor", f, NumberRange.Positive) : (double)maxPositions / original;
            attention = LongRopeScaling.DefaultAttentionFactor(scale, original);
        }
        return new LongRopeScaling(shortFactors, longFactors, original, attention);
    }

    public override LayerWeights LoadLayer(ModelConfig cfg, WeightReader r, int l)
    {
        int d = cfg.DModel, h = cfg.Heads, kv = cfg.KvHeads, dh = cfg.DHead, m = cfg.DMlp;
        string p = $"model.layers.{l}.";
        var b = new LayerWeights(l, r.Source.Source)
        {
            Ln1Weight = r.Get(p + "input_layernorm.weight", d),
            Ln2Weight = r.Get(p + "post_attention_layernorm.weight", d),
        };
        if (r.Get(p + "self_attn.qkv_proj.weight", (h + 2 * kv) * dh, d) is { } qkv)
        {
            b.W_Q = HeadsFromOutIn(qkv, 0, h, dh);
            b.W_K = HeadsFromOutIn(qkv, h * dh, kv, dh);
            b.W_V = HeadsFromOutIn(qkv, (h + kv) * dh, kv, dh);
        }
        if (r.Get(p + "self_attn.o_proj.weight", d, h * dh) is { } o) b.W_O = OutputFromOutIn(o, h, dh);
        if (r.Get(p + "mlp.gate_up_proj.weight", 2 * m, d) is { } gateUp)
        {
            b.W_gate = InOutFromOutIn(gateUp.Slice(0, 0, m));
            b.W_in = InOutFromOutIn(gateUp.Slice(0, m, m));
        }
        if (r.Get(p + "mlp.down_proj.weight", d, m) is { } down) b.W_out = InOutFromOutIn(down);
        return b;
    }
}
