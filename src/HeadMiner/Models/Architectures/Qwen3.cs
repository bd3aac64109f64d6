namespace HeadMiner.Models.Architectures;

/// <summary>
/// Qwen3 (dense): Llama with an RMSNorm of size head_dim on every query and key head (q_norm, k_norm) between the
/// projection and rotary, no q/k/v biases unless attention_bias, and head_dim taken from config.json rather than
/// hidden_size / heads (Hugging Face's Qwen3Config defaults it to 128). Sliding windows as Qwen2's, with Qwen3Config's
/// default max_window_layers of 28.
/// </summary>
public sealed class Qwen3 : LlamaFamily
{
    public override IReadOnlyList<string> ModelTypes { get; } = ["qwen3"];

    protected override int? DefaultHeadDim => 128;

    protected override QkNormKind QkNorm => QkNormKind.PerHead;

    protected override int[] Windows(HfConfig c, int layers) => Qwen2.SlidingWindows(c, layers, 28);
}
