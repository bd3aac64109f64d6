using System.Text.Json;

namespace HeadMiner.Models.Architectures;

/// <summary>
/// Gemma 3 text (Gemma3ForCausalLM, model_type "gemma3_text"): Gemma 2 plus per-head QK-norm ((1 + w) RMSNorm of
/// head_dim, before rotary), soft caps only when configured (null in released configs), sliding layers by
/// layer_types or sliding_window_pattern (layer i slides iff (i + 1) % pattern ≠ 0; default 6), and rotary per layer
/// type: sliding layers use rope_local_base_freq without scaling, full layers rope_theta with rope_scaling (or
/// transformers v5's rope_parameters, one dict per layer type).
/// </summary>
public sealed class Gemma3 : GemmaFamily
{
    public override IReadOnlyList<string> ModelTypes { get; } = ["gemma3_text"];

    protected override bool PostNorm => true;

    protected override QkNormKind QkNorm => QkNormKind.PerHead;

    protected override bool DefaultSliding(HfConfig c, int layer) =>
        (layer + 1) % c.IntOr(6, 1, ModelConfig.MaxLayers, "sliding_window_pattern") != 0;

    protected override float AttentionScale(HfConfig c, int dh) =>
        (float)(1 / Math.Sqrt(c.DoubleOr(256, NumberRange.Positive, "query_pre_attn_scalar")));

    protected override double? LocalRopeTheta(HfConfig c)
    {
        // rope_parameters.sliding_attention (v5) or rope_local_base_freq; the local layers are never scaled.
        if (c.Element("rope_parameters") is { ValueKind: JsonValueKind.Object } p && p.TryGetProperty("sliding_attention", out var local)
            && local.ValueKind != JsonValueKind.Null)
        {
            var setting = ParseRope(c, "sliding_attention");
            if (setting.Llama3 is not null || setting.LinearFactor != 1)
                throw new HeadMinerException($"{c.Path}: \"rope_parameters.sliding_attention\" is scaled; Gemma 3's sliding layers use unscaled rotary");
            return setting.Theta;
        }
        return c.DoubleOr(10000, NumberRange.RotaryBase, "rope_local_base_freq");
    }
}
