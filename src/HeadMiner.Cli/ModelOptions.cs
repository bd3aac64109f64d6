using System.CommandLine;
using HeadMiner.Models;
using HeadMiner.Models.Tokenizers;

namespace HeadMiner.Cli;

/// <summary>The options every model-reading command shares, and how they turn into a loaded model.</summary>
public static class ModelOptions
{
    public static Option<string?> Model() => new("--model", "-m")
    {
        Description = "Model to load: a Hugging Face directory (config.json + safetensors), a llama2.c .bin checkpoint, or a model id in the local Hugging Face cache (org/name[@revision]; an existing path wins)",
    };

    public static Option<bool> Process() => new("--process")
    {
        Description = "Apply TransformerLens weight processing (fold LayerNorm, center writing weights, center unembed, fold value biases)",
    };

    public static Option<bool> WeightsOnly() => new("--weights-only")
    {
        Description = "Allow a partial checkpoint (e.g. without embeddings or MLPs) for weight-only analysis",
    };

    /// <summary>Accepted so existing scripts keep working: F16/BF16 weights now always stay 16-bit (mapped) and are widened inside the GEMM.</summary>
    public static Option<bool> CompactHalf() => new("--compact-half")
    {
        Description = "No effect (kept for old scripts): F16/BF16 weights always stay in 16 bits",
        Hidden = true,
    };

    public static Option<bool> AllowUnused() => new("--allow-unused")
    {
        Description = "Load a checkpoint even if it holds tensors config.json does not use (e.g. more layers than the config declares); they are ignored and listed",
    };

    /// <summary>The Hugging Face cache the environment names (HF_HUB_CACHE, HF_HOME, ~/.cache/huggingface/hub).</summary>
    public static HubCache Cache() => HubCache.FromEnvironment(CliEnvironment.Variable);

    /// <summary>The path to load for a -m argument: itself when it exists on disk, else a hub id's cached snapshot.</summary>
    public static string Resolve(string argument) => ModelReference.Resolve(argument, Cache());

    /// <summary>
    /// Loads <paramref name="path"/> (a path, or a cache id: <see cref="ModelReference"/>) (the embedded default model when absent). With <paramref name="allowUnused"/>, a
    /// checkpoint holding tensors the config leaves unused loads anyway and a note naming them goes to
    /// <paramref name="notes"/> (the command's error stream), so what was ignored is never silent.
    /// </summary>
    public static LoadedModel Load(string? path, bool process = false, bool weightsOnly = false,
        bool allowUnused = false, TextWriter? notes = null)
    {
        if (string.IsNullOrWhiteSpace(path))
            path = DefaultModel.Path ?? throw new UsageException("no --model given and no embedded default model is available");
        var loaded = ModelLoader.Load(Resolve(path), new LoadOptions
        {
            WeightsOnly = weightsOnly,
            AllowUnused = allowUnused,
            Processing = process ? WeightProcessing.TransformerLensDefault : WeightProcessing.None,
        });
        // Whether position 0 is BOS changes every result; say which, and why, wherever a model is loaded.
        if (loaded.Tokenizer is not null && notes is not null) notes.WriteLine($"note: {BosChoice.Describe(loaded.Tokenizer)}");
        if (loaded.UnusedTensors.Count > 0 && notes is not null)
        {
            const int Shown = 5;
            var unused = loaded.UnusedTensors;
            notes.WriteLine($"note: --allow-unused: ignoring {unused.Count} checkpoint tensor{(unused.Count == 1 ? "" : "s")} the config does not use: " +
                string.Join(", ", unused.Take(Shown)) + (unused.Count > Shown ? $", … ({unused.Count - Shown} more)" : ""));
        }
        return loaded;
    }
}
