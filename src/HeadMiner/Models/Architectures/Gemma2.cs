namespace HeadMiner.Models.Architectures;

/// <summary>
/// Gemma 2: Gemma plus norms before and after both sublayers, attention-logit and final-logit soft-capping,
/// attention scale query_pre_attn_scalar^-½ and sliding-window attention on every other layer (layer_types, else
/// Gemma2Config's rule: even layer indices slide).
/// </summary>
public sealed class Gemma2 : GemmaFamily
{
    public override IReadOnlyList<string> ModelTypes { get; } = ["gemma2"];

    protected override bool PostNorm => true;

    protected override bool DefaultSliding(HfConfig c, int layer) => (layer + 1) % 2 != 0;

    protected override float AttentionScale(HfConfig c, int dh) =>
        (float)(1 / Math.Sqrt(c.DoubleOr(256, NumberRange.Positive, "query_pre_attn_scalar")));
}
