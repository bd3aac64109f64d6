namespace HeadMiner.Models.Architectures;

/// <summary>
/// OLMo-2: Llama with the norms moved after each sublayer (h = x + post_attention_layernorm(attn(x)),
/// h = h + post_feedforward_layernorm(mlp(h)); no input norms) and QK-norm over the whole q and k projections (one
/// RMSNorm of heads·head_dim and one of kv_heads·head_dim, before the head split and rotary). Olmo2Config's
/// rms_norm_eps default is 1e-5; head size is hidden_size / heads.
/// </summary>
public sealed class Olmo2 : LlamaFamily
{
    public override IReadOnlyList<string> ModelTypes { get; } = ["olmo2"];

    protected override QkNormKind QkNorm => QkNormKind.Whole;

    protected override bool PostNorm => true;

    protected override bool PreNorm => false;

    protected override double DefaultRmsNormEps => 1e-5;
}
