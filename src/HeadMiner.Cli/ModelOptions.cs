using System.CommandLine;
using HeadMiner.Models;

namespace HeadMiner.Cli;

/// <summary>The options every model-reading command shares, and how they turn into a loaded model.</summary>
public static class ModelOptions
{
    public static Option<string?> Model() => new("--model", "-m")
    {
        Description = "Model to load: a Hugging Face directory (config.json + safetensors) or a llama2.c .bin checkpoint",
    };

    public static Option<bool> Process() => new("--process")
    {
        Description = "Apply TransformerLens weight processing (fold LayerNorm, center writing weights, center unembed, fold value biases)",
    };

    public static Option<bool> WeightsOnly() => new("--weights-only")
    {
        Description = "Allow a partial checkpoint (e.g. without embeddings or MLPs) for weight-only analysis",
    };

    public static Option<bool> CompactHalf() => new("--compact-half")
    {
        Description = "Keep F16/BF16 weights in 16 bits (mapped) and convert each layer when it runs: less memory, slower",
    };

    public static LoadedModel Load(string? path, bool process = false, bool weightsOnly = false, bool compactHalf = false)
    {
        if (string.IsNullOrWhiteSpace(path))
            path = DefaultModel.Path ?? throw new UsageException("no --model given and no embedded default model is available");
        return ModelLoader.Load(path, new LoadOptions
        {
            WeightsOnly = weightsOnly,
            CompactHalf = compactHalf,
            Processing = process ? WeightProcessing.TransformerLensDefault : WeightProcessing.None,
        });
    }
}
