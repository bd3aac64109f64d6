using System.CommandLine;
using System.Globalization;
using HeadMiner.Models;
using HeadMiner.Models.Architectures;
using HeadMiner.Models.Formats;
using HeadMiner.Tensors;

namespace HeadMiner.Cli.Commands;

/// <summary>
/// `headminer models`: the models in the local Hugging Face cache (HF_HUB_CACHE, HF_HOME/hub,
/// ~/.cache/huggingface/hub), each with its id for -m, architecture, size, and whether HeadMiner can load it. Reads
/// only config.json and the safetensors headers, so a large cache lists quickly; a snapshot it cannot understand is a
/// row saying why, never a failure of the whole listing.
/// </summary>
public static class ModelsCommand
{
    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "Print JSON instead of a table" };
        var command = new Command("models", "List the models in the local Hugging Face cache that -m org/name can load.") { json };
        command.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            var cache = ModelOptions.Cache();
            bool exists = Directory.Exists(cache.Root);
            string? note = exists ? null
                : $"no Hugging Face cache at {cache.Describe()}; set HF_HUB_CACHE (or HF_HOME) to a hub folder, or download with `huggingface-cli download org/name` on a machine with internet and copy the cache here";
            var rows = cache.Snapshots().Select(Describe).ToList();
            if (note is not null) error.WriteLine($"note: {note}");
            if (parse.GetValue(json))
            {
                JsonOutput.Print(output, error, new { cache = cache.Root, cache_source = cache.Source, cache_exists = exists, note, count = rows.Count, models = rows });
                return ExitCodes.Success;
            }
            output.WriteLine($"cache: {cache.Describe()}");
            if (rows.Count == 0)
            {
                output.WriteLine("no cached models");
                return ExitCodes.Success;
            }
            var table = rows.Select(r => new[]
            {
                r.id, r.revision, r.model_type ?? "-", r.family ?? "-",
                r.layers is null ? "-" : $"{r.layers}×{r.heads}", r.d_model?.ToString() ?? "-",
                r.parameters is null ? "-" : Count(r.parameters.Value), r.bytes is null ? "-" : Bytes(r.bytes.Value),
                r.supported ? "yes" : $"no: {r.note}",
            }).ToList();
            string[] header = ["id", "revision", "model_type", "family", "layers×heads", "d_model", "params", "size", "loadable"];
            var widths = header.Select((h, i) => table.Select(t => t[i].Length).Append(h.Length).Max()).ToArray();
            string Line(string[] cells) => string.Join("  ", cells.Select((c, i) => i == cells.Length - 1 ? c : c.PadRight(widths[i]))).TrimEnd();
            output.WriteLine(Line(header));
            foreach (var t in table) output.WriteLine(Line(t));
            output.WriteLine($"{rows.Count} cached model snapshot{(rows.Count == 1 ? "" : "s")}, {rows.Count(r => r.supported)} loadable");
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>One row of the listing (field names are the JSON's).</summary>
    private sealed record Row(
        string id, string repo, string commit, IReadOnlyList<string> refs, string revision, string path,
        string? model_type, string? family, int? layers, int? heads, int? kv_heads, int? d_model,
        long? parameters, long? bytes, bool supported, string? note);

    private static Row Describe(CachedSnapshot s)
    {
        string revision = (s.Commit.Length > 12 ? s.Commit[..12] : s.Commit) + (s.Refs.Count > 0 ? $" ({string.Join(", ", s.Refs)})" : "");
        string? modelType = null, family = null, note = null;
        int? layers = null, heads = null, kvHeads = null, dModel = null;
        long? parameters = null, bytes = null;
        try
        {
            string configPath = Path.Combine(s.Directory, "config.json");
            if (!FileLinks.Exists(configPath)) note = "no config.json";
            else
            {
                var config = HfConfig.Load(configPath);
                modelType = config.ModelType;
                var architecture = ArchitectureRegistry.Find(modelType);
                if (architecture is null) note = modelType is null ? "config.json has no model_type" : $"model_type \"{modelType}\" is not supported";
                else
                {
                    var c = architecture.ParseConfig(config);
                    (family, layers, heads, kvHeads, dModel) = (c.Architecture, c.Layers, c.Heads, c.KvHeads, c.DModel);
                }
            }
            (parameters, bytes) = Weights(s.Directory, ref note);
        }
        catch (HeadMinerException e)
        {
            // A damaged snapshot (bad config, dangling link into blobs/) is a row that says so; the rest still list.
            note ??= e.Message;
        }
        return new Row(s.Id, s.Repo, s.Commit, s.Refs, revision, s.Directory, modelType, family, layers, heads, kvHeads, dModel,
            parameters, bytes, note is null, note);
    }

    /// <summary>Parameter count and bytes of the safetensors checkpoint, from its headers only.</summary>
    private static (long?, long?) Weights(string dir, ref string? note)
    {
        bool single = FileLinks.Exists(Path.Combine(dir, SafetensorsCheckpoint.SingleFileName));
        bool sharded = FileLinks.Exists(Path.Combine(dir, SafetensorsCheckpoint.IndexFileName));
        if (!single && !sharded)
        {
            note ??= "no model.safetensors (other weight formats are not read)";
            return (null, null);
        }
        using var checkpoint = SafetensorsCheckpoint.Open(dir);
        long parameters = 0;
        foreach (string name in checkpoint.TensorNames)
        {
            long n = 1;
            foreach (int d in checkpoint.FileOf(name).Info(name).Shape) n *= d;
            parameters += n;
        }
        return (parameters, checkpoint.Files.Sum(f => f.Length));
    }

    private static string Count(long n) =>
        n >= 1_000_000_000 ? Scaled(n / 1e9, "B") : n >= 1_000_000 ? Scaled(n / 1e6, "M") : n >= 1_000 ? Scaled(n / 1e3, "K") : Scaled(n, "");

    private static string Bytes(long n) =>
        n >= 1L << 30 ? Scaled(n / (double)(1L << 30), " GiB") : n >= 1 << 20 ? Scaled(n / (double)(1 << 20), " MiB") : n >= 1 << 10 ? Scaled(n / 1024.0, " KiB") : Scaled(n, " B");

    private static string Scaled(double value, string unit) => value.ToString("0.##", CultureInfo.InvariantCulture) + unit;
}
