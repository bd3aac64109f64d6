using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using HeadMiner.Hooks;
using HeadMiner.Models.Formats;

namespace HeadMiner.Cli.Commands;

/// <summary>
/// `headminer cache`: one forward pass over a prompt, its activations saved as safetensors under their
/// TransformerLens hook names and shapes ([1, T, …], batch axis kept, as <c>run_with_cache</c> gives them), so
/// <c>safetensors.numpy.load_file</c> or <c>safetensors.torch.load_file</c> reads a cache as a dict of arrays
/// (docs/INTEROP.md).
/// </summary>
public static class CacheCommand
{
    public const string DefaultOutput = "cache/cache.safetensors";

    public static Command Create()
    {
        var model = ModelOptions.Model();
        var allowUnused = ModelOptions.AllowUnused();
        var prompt = new Option<string>("--prompt", "-p") { Description = "Prompt text", Required = true };
        var hooks = new Option<string?>("--hooks") { Description = "Comma-separated hook names or patterns (* matches anything: blocks.*.attn.hook_pattern); default: every point TransformerLens caches by default" };
        var output = new Option<string>("--out", "-o") { Description = "The safetensors file to write", DefaultValueFactory = _ => DefaultOutput };
        var half = new Option<bool>("--half") { Description = "Store float16 instead of float32 (half the size, ~3 significant digits)" };
        var noBos = new Option<bool>("--no-bos") { Description = "Do not prepend BOS even if the tokenizer does by default" };
        var process = ModelOptions.Process();
        var precision = ModelOptions.Precision();
        var command = new Command("cache", "Run a prompt and save its activations as safetensors, by TransformerLens hook name (for numpy, torch, TransformerLens).")
        {
            model, prompt, hooks, output, half, noBos, process, allowUnused, precision,
        };
        command.SetAction(parse =>
        {
            string path = OutputFiles.PrepareFile(parse.GetValue(output)!);
            using var loaded = ModelOptions.Load(parse.GetValue(model), parse.GetValue(process), allowUnused: parse.GetValue(allowUnused), notes: parse.InvocationConfiguration.Error);
            var arithmetic = ModelOptions.ApplyPrecision(loaded, parse.GetValue(precision));
            var config = loaded.Model.Config;
            CacheFilter filter;
            try
            {
                filter = parse.GetValue(hooks) is { } list ? CacheFilter.Of([.. HookPatterns.Select(list, config)]) : CacheFilter.All();
            }
            catch (HeadMinerException e)
            {
                throw new UsageException($"--hooks: {e.Message}");
            }
            var tokenizer = loaded.RequireTokenizer();
            string text = parse.GetValue(prompt)!;
            var ids = tokenizer.Encode(text, parse.GetValue(noBos) ? false : null);
            if (ids.Length == 0) throw new UsageException("the prompt encodes to no tokens");
            if (ids.Length > config.ContextLength) throw new UsageException($"the prompt is {ids.Length} tokens; the model's context is {config.ContextLength}");
            var (result, cache) = loaded.Model.RunWithCache(ids, filter);
            FiniteForward.Check(loaded.Model, ids, result.Logits!, "cache");

            var dtype = parse.GetValue(half) ? SafetensorsDType.F16 : SafetensorsDType.F32;
            var names = HookName.All(config).Where(cache.Contains).ToArray();
            var writer = new SafetensorsWriter()
                .AddMetadata("format", "headminer.activation_cache")
                .AddMetadata("hook_names", "transformer_lens")
                .AddMetadata("model", loaded.Path)
                .AddMetadata("architecture", config.Architecture)
                .AddMetadata("weight_processing", loaded.Model.Processing.ToString())
                .AddMetadata("precision", ModelOptions.PrecisionName(arithmetic))
                .AddMetadata("prompt", text)
                .AddMetadata("tokens", JsonSerializer.Serialize(ids))
                .AddMetadata("token_strings", JsonSerializer.Serialize(ids.Select(tokenizer.TokenToString).ToArray()));
            long elements = 0;
            foreach (var name in names)
            {
                var tensor = cache.Get(name);
                writer.Add(name.ToString(), tensor, dtype);
                elements += tensor.Length;
            }
            writer.Save(path);
            var stdout = parse.InvocationConfiguration.Output;
            stdout.WriteLine($"{ids.Length} tokens: {string.Join(" | ", ids.Select(i => TerminalText.Escape(tokenizer.TokenToString(i))))}");
            stdout.WriteLine($"weight processing: {loaded.Model.Processing}; arithmetic: {ModelOptions.DescribePrecision(arithmetic)}");
            string size = (elements * dtype.SizeOf() / 1e6).ToString("0.##", CultureInfo.InvariantCulture);
            stdout.WriteLine($"cached {names.Length} hook points ({size} MB {dtype.HeaderName()}); wrote {path}");
            return ExitCodes.Success;
        });
        return command;
    }
}
