using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using HeadMiner.Analysis.Circuits;
using HeadMiner.Analysis.Truth;
using HeadMiner.Models;
using HeadMiner.Tasks;
using HeadMiner.Tasks.Sets;

namespace HeadMiner.Bench;

/// <summary>
/// The embedded model's IOI-style task against its path-patching ground truth, read at run time from
/// tests/fixtures/embedded/circuits.json (<see cref="TaskCircuitTruth"/>; the model and the fixture are retrained
/// together, so nothing here names a head). The truth is the set of heads that carry the task in the fixture: the
/// carriers of every head type on the ioi task (paths to the logits, and for S-inhibition to the carriers' queries).
/// The prompt pairs are the fixture's (its count and seed, the ioi task set, logit difference). Per method and
/// setting: edges kept, head-node precision and recall against the truth (MLPs aside: the truth is about heads), the
/// faithfulness of the circuit by patching, and the method's time; then ACDC's speed on this task (the
/// sweep repeated --speed-repeats times, 3 by default: one sweep is short enough for a load change to decide it).
/// </summary>
public static class EmbeddedIoiCircuit
{
    public const string Task = "ioi";

    public static void Run(double[] taus, int[] stepCounts, IReadOnlyCollection<string> methods, int repeats, int maxSteps)
    {
        string root = BenchModel.RepoRoot();
        string modelDir = Path.Combine(root, "models", "embedded");
        string fixturePath = Path.Combine(root, "tests", "fixtures", "embedded", "circuits.json");
        if (!File.Exists(Path.Combine(modelDir, "model.safetensors")) || !File.Exists(fixturePath))
        {
            Console.WriteLine($"embedded model: skipped ({modelDir} or {fixturePath} is missing)");
            return;
        }
        using var fixture = JsonDocument.Parse(File.ReadAllText(fixturePath));
        var f = fixture.RootElement;
        string digest = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Path.Combine(modelDir, "model.safetensors"))));
        bool current = f.GetProperty("model_sha256").GetString() == digest;
        var task = f.GetProperty("tasks").GetProperty(Task);
        var truth = f.GetProperty("types").EnumerateObject()
            .Where(t => t.Value.GetProperty("task").GetString() == Task)
            .SelectMany(t => t.Value.GetProperty("carriers").EnumerateArray().Select(h => HeadNode(h.GetString()!)))
            .ToHashSet(StringComparer.Ordinal);

        using var loaded = ModelLoader.Load(modelDir);
        var model = loaded.Model;
        var tokenizer = loaded.RequireTokenizer();
        var set = TaskSets.Find(Task)!.Generate(tokenizer, new TaskSetOptions
        {
            Count = f.GetProperty("pairs").GetInt32(),
            Seed = f.GetProperty("seed").GetUInt64(),
            ContextLength = model.Config.ContextLength,
        });
        var pairs = set.Tokenize(tokenizer, Task, model.Config.ContextLength);
        var metric = Metric.Parse(task.GetProperty("metric").GetString()!);
        var graph = CircuitGraph.Create(model.Config);
        var patcher = EdgePatcher.Create(model, pairs, metric, graph);
        double span = Math.Abs(patcher.CleanMetric - patcher.CorruptedMetric);
        Console.WriteLine();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"embedded model ({model.Config.Layers} layers × {model.Config.Heads} heads, graph of {graph.EdgeCount} edges), task {Task}: {pairs.Count} pairs of {pairs.Length} tokens, {patcher.Metric.Name} clean {patcher.CleanMetric:0.000}, corrupted {patcher.CorruptedMetric:0.000}"));
        Console.WriteLine($"ground truth (carriers of the {Task} head types in {Path.GetRelativePath(root, fixturePath)}): {{{string.Join(", ", truth.Order(StringComparer.Ordinal))}}}"
            + (current ? "" : "  — NOTE: the fixture was written for other weights (model_sha256 differs); regenerate it with tools/fixtures/embedded/circuits.cs"));
        if (truth.Count == 0) Console.WriteLine("  (no head carries the task in the fixture: recall is 1 by definition)");
        Console.WriteLine();
        Console.WriteLine("| method | setting | edges | head nodes | head P | head R | truth heads missed | faithfulness | time (s) |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|---|");
        void Row(string method, string setting, Circuit circuit, double seconds)
        {
            var heads = circuit.Nodes.Where(n => n.StartsWith('a')).ToHashSet(StringComparer.Ordinal);
            int hit = heads.Count(truth.Contains);
            double precision = heads.Count == 0 ? 1 : (double)hit / heads.Count, recall = truth.Count == 0 ? 1 : (double)hit / truth.Count;
            var missed = truth.Where(h => !heads.Contains(h)).Order(StringComparer.Ordinal);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {method} | {setting} | {circuit.EdgeCount} | {heads.Count} | {precision:0.000} | {recall:0.000} | {string.Join(" ", missed)} | {Faithfulness.Of(patcher, circuit).Value:0.000} | {seconds:0.000} |"));
        }
        if (methods.Contains("acdc"))
            foreach (double x in taus)
            {
                var clock = Stopwatch.StartNew();
                var circuit = Acdc.Run(patcher, x * span);
                Row("acdc", $"τ={x}", circuit, clock.Elapsed.TotalSeconds);
            }
        foreach (var scorer in CircuitScorers.Selected(methods, stepCounts, maxSteps))
        {
            string method = scorer.Name;
            var clock = Stopwatch.StartNew();
            var scores = scorer.Score(model, pairs, metric, graph);
            double seconds = clock.Elapsed.TotalSeconds;
            foreach (double x in taus)
            {
                var kept = scores.Select(s => Math.Abs(s) >= x * span).ToArray();
                Row(method, $"≥{x}", new Circuit(graph, kept, scores, method, new Dictionary<string, string>()), seconds);
            }
        }
        if (methods.Contains("acdc"))
        {
            Console.WriteLine();
            var speed = new AcdcSpeed();
            for (int i = 0; i < repeats; i++) speed.Measure(model, pairs, metric, graph, taus[0] * span);
            speed.Print($"embedded model, {Task}, τ = {taus[0]} · |clean − corrupted|");
        }
    }

    /// <summary>"L2H0" (the fixture's head names) → "a2.h0" (the graph's).</summary>
    private static string HeadNode(string name)
    {
        int h = name.IndexOf('H', StringComparison.Ordinal);
        if (!name.StartsWith('L') || h < 2) throw new FormatException($"circuits.json: head name {name} is not L<layer>H<head>");
        return $"a{name[1..h]}.h{name[(h + 1)..]}";
    }
}
