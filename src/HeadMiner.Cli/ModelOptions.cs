using System.CommandLine;
using HeadMiner.Models;
using HeadMiner.Models.Tokenizers;
using HeadMiner.Tensors;
using HeadMiner.Tensors.Kernels;

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

    /// <summary>--precision fp32|bf16: the arithmetic of the weight products (<see cref="ArithmeticPrecision"/>).</summary>
    public static Option<string> Precision()
    {
        var option = new Option<string>("--precision")
        {
            Description = "Arithmetic of the weight products: fp32 (exact reference) or bf16 (activations and weights rounded to bfloat16, float32 sums; AVX512_BF16 where the CPU has it). Norms, attention and the residual stream stay fp32",
            DefaultValueFactory = _ => "fp32",
        };
        option.AcceptOnlyFromAmong("fp32", "bf16");
        return option;
    }

    /// <summary>Sets the model's arithmetic from a --precision value and returns it.</summary>
    public static ArithmeticPrecision ApplyPrecision(LoadedModel loaded, string? value)
    {
        var precision = value switch
        {
            null or "fp32" => ArithmeticPrecision.Fp32,
            "bf16" => ArithmeticPrecision.Bf16,
            _ => throw new UsageException($"--precision \"{value}\" must be fp32 or bf16"),
        };
        loaded.Model.Precision = precision;
        return precision;
    }

    /// <summary>The arithmetic that ran, for headers and metadata: "fp32", or "bf16" with what computed it.</summary>
    public static string DescribePrecision(ArithmeticPrecision precision) =>
        precision == ArithmeticPrecision.Fp32 ? "fp32" : $"bf16 ({GemmBf16.Implementation})";

    /// <summary>The short name ("fp32" or "bf16") for JSON fields.</summary>
    public static string PrecisionName(ArithmeticPrecision precision) => precision == ArithmeticPrecision.Fp32 ? "fp32" : "bf16";

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
