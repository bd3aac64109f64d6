using System.CommandLine;
using System.Security.Cryptography;
using System.Text.Json;
using HeadMiner.Analysis.Truth;
using HeadMiner.Hooks;
using HeadMiner.Tasks.Sets;
using HeadMiner.Tensors;

namespace HeadMiner.Cli.Commands;

/// <summary>
/// `headminer verify`: the path-patching ground truth of a model's task heads (<see cref="TaskCircuitTruth"/>: which
/// heads carry each task, which of them play the head type's role) → truth.json; with --atlas, the precision and
/// recall of that atlas's labels against it, per type. How far to trust an atlas's task labels on this model.
/// </summary>
public static class VerifyCommand
{
    public static Command Create()
    {
        var model = ModelOptions.Model();
        var allowUnused = ModelOptions.AllowUnused();
        var atlas = new Option<string?>("--atlas") { Description = "An atlas.json of this model (headminer atlas): score its labels against the ground truth" };
        var tasks = new Option<string?>("--tasks") { Description = $"Comma-separated task sets to measure ({string.Join(", ", TaskCircuitTruth.Types.Select(t => t.Task).Distinct())}); default: every one the model's vocabulary can spell" };
        var count = new Option<int>("--count") { Description = "Prompt pairs per task", DefaultValueFactory = _ => 32 };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the prompts and the bootstrap", DefaultValueFactory = _ => 0UL };
        var outDir = new Option<string>("--out", "-o") { Description = "Directory for truth.json", DefaultValueFactory = _ => "verify" };
        var command = new Command("verify", "Ground truth of the task heads by path patching (the IOI paper's method) and, with --atlas, how well the atlas's labels agree with it.")
        {
            model, atlas, tasks, count, seed, outDir, allowUnused,
        };
        command.SetAction((parse, cancel) =>
        {
            int n = parse.GetValue(count);
            if (n < 2) throw new UsageException($"--count {n} must be at least 2 (the bootstrap resamples pairs)");
            string? atlasPath = parse.GetValue(atlas);
            var labelled = atlasPath is null ? null : Labels(atlasPath);
            string dir = OutputFiles.PrepareDirectory(parse.GetValue(outDir)!);
            using var loaded = ModelOptions.Load(parse.GetValue(model), process: false, allowUnused: parse.GetValue(allowUnused), notes: parse.InvocationConfiguration.Error);
            FiniteForward.CheckProbe(loaded.Model, "verify");
            var tokenizer = loaded.RequireTokenizer();
            var known = TaskCircuitTruth.Types.Select(t => t.Task).Distinct().ToList();
            List<string> chosen;
            if (parse.GetValue(tasks) is { } list)
            {
                chosen = [.. list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];
                foreach (string t in chosen)
                {
                    if (!known.Contains(t)) throw new UsageException($"--tasks: \"{t}\" has no head type to verify; one of {string.Join(", ", known)}");
                    var (ok, reason) = TaskSets.Find(t)!.CanBuild(tokenizer, loaded.Model.Config.ContextLength);
                    if (!ok) throw new HeadMinerException($"--tasks: this model cannot build the {t} set: {reason}");
                }
            }
            else
            {
                chosen = [.. known.Where(t => TaskSets.Find(t)!.CanBuild(tokenizer, loaded.Model.Config.ContextLength).Ok)];
                var skipped = known.Except(chosen).ToList();
                if (skipped.Count > 0) parse.InvocationConfiguration.Error.WriteLine($"note: the vocabulary cannot build {string.Join(", ", skipped)}; not measured");
                if (chosen.Count == 0) throw new HeadMinerException($"{loaded.Path}: the vocabulary builds none of the task sets ({string.Join(", ", known)})");
            }
            var result = TaskCircuitTruth.Compute(loaded.Model, tokenizer, n, parse.GetValue(seed), chosen, cancel);
            string weights = Directory.Exists(loaded.Path) ? Path.Combine(loaded.Path, "model.safetensors") : loaded.Path;
            string digest = File.Exists(weights) ? Sha256(weights) : "";
            string file = Path.Combine(dir, "truth.json");
            AtomicFile.WriteAllText(file, TaskCircuitTruth.ToJson(result, digest, $"headminer verify --count {n} --seed {parse.GetValue(seed)}"));

            var output = parse.InvocationConfiguration.Output;
            foreach (var task in result.Tasks)
                output.WriteLine($"{task.Task}: {task.Metric} clean {task.CleanMetric:0.000}, corrupted {task.CorruptedMetric:0.000}, accuracy {task.Accuracy:0.00}{(task.Learned ? "" : " — not learned")}");
            output.WriteLine();
            foreach (var type in result.Types)
            {
                string line = $"{type.Spec.Type,-20} truth {Heads(type.Truth)}";
                if (labelled is not null)
                {
                    var labels = labelled.TryGetValue(type.Spec.Type, out var l) ? l : [];
                    var (precision, recall) = TaskCircuitTruth.Agreement(type, labels);
                    line += $", atlas {Heads(labels)}: " + (type.Learned ? $"precision {precision:0.00}, recall {recall:0.00}" : "not scored (task not learned)");
                }
                var without = type.CarriersWithoutRole.ToList();
                if (without.Count > 0) line += $"; carrying without the role: {Heads(without)}";
                output.WriteLine(line);
            }
            output.WriteLine();
            output.WriteLine($"wrote {file}");
            return Task.FromResult(ExitCodes.Success);
        });
        return command;
    }

    private static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    private static string Heads(IEnumerable<(int Layer, int Head)> heads) => $"{{{string.Join(" ", heads.Select(TaskCircuitTruth.Name))}}}";

    /// <summary>Per head type, the heads an atlas.json labels with it.</summary>
    private static Dictionary<string, List<(int Layer, int Head)>> Labels(string path)
    {
        if (!File.Exists(path)) throw new HeadMinerException($"--atlas: {path} does not exist");
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            var labels = new Dictionary<string, List<(int, int)>>();
            foreach (var head in doc.RootElement.GetProperty("heads").EnumerateArray())
            {
                int layer = head.GetProperty("layer").GetInt32(), h = head.GetProperty("head").GetInt32();
                foreach (var label in head.GetProperty("labels").EnumerateArray())
                {
                    string type = label.GetProperty("type").GetString()!;
                    if (!labels.TryGetValue(type, out var list)) labels[type] = list = [];
                    list.Add((layer, h));
                }
            }
            return labels;
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new HeadMinerException($"--atlas: {path} is not an atlas.json (headminer atlas): {e.Message}");
        }
    }
}
