namespace HeadMiner.Models.Architectures;

/// <summary>Qwen2: Llama with biases on q, k and v (not o); sliding window only when use_sliding_window is set.</summary>
public sealed class Qwen2 : LlamaFamily
{
    public override IReadOnlyList<string> ModelTypes { get; } = ["qwen2"];

    protected override int[] Windows(HfConfig c, int layers)
    {
        var windows = new int[layers];
        if (!c.BoolOr(false, "use_sliding_window")) return windows;
        // Layers from max_window_layers on use the window; 4096 is Hugging Face's default size (its Qwen2 convention).
        int window = c.IntOr(4096, 1, ModelConfig.MaxContext, "sliding_window"), first = c.IntOr(layers, 0, int.MaxValue, "max_window_layers");
        for (int l = first; l < layers; l++) windows[l] = window;
        return windows;
    }
}
