namespace HeadMiner.Models.Architectures;

/// <summary>Mistral: Llama with an optional sliding attention window on every layer.</summary>
public sealed class Mistral : LlamaFamily
{
    public override IReadOnlyList<string> ModelTypes { get; } = ["mistral"];


    protected override int[] Windows(HfConfig c, int layers) => Enumerable.Repeat(c.IntOr(0, "sliding_window"), layers).ToArray();
}
