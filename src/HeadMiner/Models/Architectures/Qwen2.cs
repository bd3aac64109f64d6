namespace HeadMiner.Models.Architectures;

/// <summary>Qwen2: Llama with biases on q, k and v (not o); sliding window only when use_sliding_window is set.</summary>
public sealed class Qwen2 : LlamaFamily
{
    public override IReadOnlyList<string> ModelTypes { get; } = ["qwen2"];

    protected override int[] Windows(HfConfig c, int layers) => SlidingWindows(c, layers, layers);

    /// <summary>
    /// Qwen's windows (Qwen2 and Qwen3 share them): none unless use_sliding_window; then layers from
    /// max_window_layers on use sliding_window (4096 is Hugging Face's default size), or, when config.json lists
    /// layer_types (newer saves), exactly the layers marked "sliding_attention".
    /// </summary>
    internal static int[] SlidingWindows(HfConfig c, int layers, int defaultMaxWindowLayers)
    {
        var windows = new int[layers];
        if (!c.BoolOr(false, "use_sliding_window")) return windows;
        int window = c.IntOr(4096, 1, ModelConfig.MaxContext, "sliding_window");
        if (c.Element("layer_types") is { } types)
        {
            if (types.ValueKind != System.Text.Json.JsonValueKind.Array || types.GetArrayLength() != layers)
                throw c.Bad("layer_types", types, $"an array of {layers} layer types (one per num_hidden_layers)");
            int l = 0;
            foreach (var t in types.EnumerateArray())
            {
                string? type = t.ValueKind == System.Text.Json.JsonValueKind.String ? t.GetString() : null;
                if (type is not ("full_attention" or "sliding_attention"))
                    throw c.Bad($"layer_types[{l}]", t, "\"full_attention\" or \"sliding_attention\"");
                if (type == "sliding_attention") windows[l] = window;
                l++;
            }
            return windows;
        }
        int first = c.IntOr(defaultMaxWindowLayers, 0, int.MaxValue, "max_window_layers");
        for (int l = first; l < layers; l++) windows[l] = window;
        return windows;
    }
}
