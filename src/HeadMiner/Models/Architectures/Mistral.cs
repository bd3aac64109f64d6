namespace HeadMiner.Models.Architectures;

/// <summary>Mistral: Llama with an optional sliding attention window on every layer.</summary>
public sealed class Mistral : LlamaFamily
{
    public override IReadOnlyList<string> ModelTypes { get; } = ["mistral"];

    /// <summary>sliding_window: null, absent or 0 for global attention, else the window in tokens.</summary>
    protected override int[] Windows(HfConfig c, int layers) => Enumerable.Repeat(c.IntOr(0, 0, ModelConfig.MaxContext, "sliding_window"), layers).ToArray();
}
