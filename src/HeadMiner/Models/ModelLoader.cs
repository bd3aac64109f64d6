using HeadMiner.Models.Architectures;
using HeadMiner.Models.Formats;
using HeadMiner.Models.Tokenizers;
using HeadMiner.Tensors;

namespace HeadMiner.Models;

/// <summary>How to load a model.</summary>
public sealed record LoadOptions
{
    /// <summary>Allow tensors to be absent (partial checkpoints for weight-only analysis); using one is then an error.</summary>
    public bool WeightsOnly { get; init; }

    /// <summary>
    /// Load a checkpoint that holds tensors the config does not use (more layers than config.json declares, a different
    /// architecture's extras); they are listed in <see cref="LoadedModel.UnusedTensors"/>. Without it such a checkpoint
    /// is refused: a config that silently describes part of a checkpoint is a truncated model.
    /// </summary>
    public bool AllowUnused { get; init; }

    /// <summary>TransformerLens weight processing to apply after loading (default: none, the checkpoint's own numerics).</summary>
    public WeightProcessing Processing { get; init; } = WeightProcessing.None;
}

/// <summary>A model with its tokenizer and what the loader noticed.</summary>
public sealed class LoadedModel(Transformer model, ITokenizer? tokenizer, string path, string format, IReadOnlyList<string> unusedTensors) : IDisposable
{
    public Transformer Model { get; } = model;

    /// <summary>Null when the directory has no tokenizer files (the model can still run on ids).</summary>
    public ITokenizer? Tokenizer { get; } = tokenizer;

    public string Path { get; } = path;

    /// <summary>"huggingface" or "llama2c".</summary>
    public string Format { get; } = format;

    /// <summary>Checkpoint tensors the architecture did not use (a hint of a config mismatch).</summary>
    public IReadOnlyList<string> UnusedTensors { get; } = unusedTensors;

    public ITokenizer RequireTokenizer() => Tokenizer
        ?? throw new HeadMinerException($"{Path}: no tokenizer found (looked for tokenizer.json, vocab.json + merges.txt, tokenizer.bin); pass token ids instead");

    public void Dispose() => Model.Dispose();
}

/// <summary>Loads a model from a local path: a Hugging Face directory (config.json + safetensors) or a llama2.c .bin.</summary>
public static class ModelLoader
{
    public static LoadedModel Load(string path, LoadOptions? options = null)
    {
        options ??= new LoadOptions();
        path = System.IO.Path.GetFullPath(path);
        LoadedModel loaded;
        // A link is followed wherever it points (the Hugging Face cache links every file into blobs/); a dangling one
        // fails here with its target named rather than as "no such file".
        if (new FileInfo(path).LinkTarget is not null && !Directory.Exists(path)) FileLinks.Resolve(path, "model");
        if (File.Exists(path))
        {
            if (System.IO.Path.GetFileName(path) == "config.json") return Load(System.IO.Path.GetDirectoryName(path)!, options);
            loaded = LoadLlama2c(path);
        }
        else if (Directory.Exists(path))
        {
            if (FileLinks.Exists(System.IO.Path.Combine(path, "config.json"))) loaded = LoadHuggingFace(path, options);
            else
            {
                var bins = Directory.GetFiles(path, "*.bin").Where(f => !IsTokenizerFile(f)).ToArray();
                if (bins.Length != 1)
                    throw new HeadMinerException($"{path}: not a model directory: no config.json, and {(bins.Length == 0 ? "no" : "more than one")} llama2.c .bin checkpoint");
                loaded = LoadLlama2c(bins[0]);
            }
        }
        else throw new HeadMinerException($"{path}: no such file or directory");

        if (options.Processing.Any)
        {
            try { WeightProcessor.Apply(loaded.Model, options.Processing); }
            catch
            {
                loaded.Dispose();
                throw;
            }
        }
        return loaded;
    }

    private static LoadedModel LoadHuggingFace(string dir, LoadOptions options)
    {
        var config = HfConfig.Load(System.IO.Path.Combine(dir, "config.json"));
        var architecture = ArchitectureRegistry.For(config.ModelType, config.Path);
        var modelConfig = architecture.ParseConfig(config);
        modelConfig.Validate(config.Path);
        var source = new SafetensorsWeightSource(SafetensorsCheckpoint.Open(dir));
        try
        {
            var reader = new WeightReader(source, options.WeightsOnly, architecture.Prefixes.ToArray());
            // F16/BF16 tensors arrive as 16-bit views over the mapping (Tensor.Half): loading reads no weight data, and
            // the forward pass widens them inside the GEMM's packing, so memory stays near the checkpoint's size.
            var weights = architecture.LoadWeights(modelConfig, reader);
            var model = new Transformer(modelConfig, weights, dir, source);
            var unused = reader.Unused(IsKnownBuffer).ToArray();
            if (unused.Length > 0 && !options.AllowUnused) throw UnusedTensors(config.Path, source.Source, modelConfig, unused);
            return new LoadedModel(model, TryLoadTokenizer(dir, modelConfig), dir, "huggingface", unused);
        }
        catch
        {
            source.Dispose();
            throw;
        }
    }

    /// <summary>The refusal of a checkpoint with tensors the config leaves unused, naming the first few and the count.</summary>
    private static HeadMinerException UnusedTensors(string configPath, string checkpoint, ModelConfig config, string[] unused)
    {
        const int Shown = 5;
        string first = string.Join(", ", unused.Take(Shown).Select(n => $"\"{ErrorText.Clip(n)}\""));
        return new HeadMinerException(
            $"{checkpoint}: {unused.Length} checkpoint tensor{(unused.Length == 1 ? " is" : "s are")} not used by the {config.Architecture} model " +
            $"that {configPath} describes ({config.Layers} layer{(config.Layers == 1 ? "" : "s")}): {first}{(unused.Length > Shown ? ", …" : "")}; config.json may declare fewer layers " +
            "or another architecture than the checkpoint holds (pass --allow-unused to load it anyway, ignoring them)");
    }

    private static LoadedModel LoadLlama2c(string file)
    {
        var model = Llama2c.Load(file);
        try
        {
            return new LoadedModel(model, TryLoadTokenizer(System.IO.Path.GetDirectoryName(file)!, model.Config), file, "llama2c", []);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    private static ITokenizer? TryLoadTokenizer(string dir, ModelConfig config)
    {
        if (!TokenizerLoader.HasTokenizer(dir)) return null;
        var tokenizer = TokenizerLoader.Load(dir);
        if (tokenizer.VocabSize > config.VocabSize)
            throw new HeadMinerException($"{dir}: the tokenizer has {tokenizer.VocabSize} tokens but the model's vocabulary has {config.VocabSize}");
        return tokenizer;
    }

    private static bool IsTokenizerFile(string path)
    {
        string name = System.IO.Path.GetFileName(path);
        return name.StartsWith("tok", StringComparison.Ordinal);
    }

    /// <summary>Buffers that Hugging Face saves with some checkpoints and that carry no weights (causal masks, rotary caches).</summary>
    private static bool IsKnownBuffer(string name) =>
        name.EndsWith(".attn.bias", StringComparison.Ordinal) || name.EndsWith(".attn.masked_bias", StringComparison.Ordinal)
        || name.EndsWith("attention.bias", StringComparison.Ordinal) || name.EndsWith("attention.masked_bias", StringComparison.Ordinal)
        || name.EndsWith("rotary_emb.inv_freq", StringComparison.Ordinal) || name == "lm_head.weight";
}
