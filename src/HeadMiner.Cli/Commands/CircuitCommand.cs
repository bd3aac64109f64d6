using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using HeadMiner.Analysis.Circuits;
using HeadMiner.Hooks;
using HeadMiner.Reports;
using HeadMiner.Tasks;
using HeadMiner.Tasks.Sets;
using HeadMiner.Tensors;

namespace HeadMiner.Cli.Commands;

/// <summary>
/// `headminer circuit`: automatic circuit discovery on the edge graph (docs/CIRCUITS.md) — ACDC with threshold τ, or
/// EAP / EAP-IG keeping the top N edges — from a task set (--task) or a prompt-pair file (--pairs). Writes
/// circuit.json (nodes, edges, scores, method, settings, faithfulness measured by patching) and circuit.svg. ACDC saves
/// its state after every receiver (acdc-state.json); a stopped run keeps it, and the same command resumes from it.
/// </summary>
public static class CircuitCommand
{
    public static Command Create()
    {
        var model = ModelOptions.Model();
        var allowUnused = ModelOptions.AllowUnused();
        var task = new Option<string?>("--task") { Description = $"Task set to build the prompt pairs from ({string.Join(", ", TaskSets.All.Select(t => t.Name))})" };
        var pairs = new Option<string?>("--pairs") { Description = "Prompt-pair JSON file (clean, corrupted, answer, wrong)" };
        var count = new Option<int>("--count") { Description = "Pairs to generate with --task", DefaultValueFactory = _ => 16 };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the generated pairs", DefaultValueFactory = _ => 1 };
        var method = new Option<string>("--method") { Description = "acdc | eap | eap-ig", DefaultValueFactory = _ => "acdc" };
        var metric = new Option<string>("--metric") { Description = "logit_diff | prob_diff | kl", DefaultValueFactory = _ => "kl" };
        var tau = new Option<double?>("--tau") { Description = "ACDC threshold: remove an edge when the metric moves by less than this (default 0.01)" };
        var edges = new Option<int?>("--edges") { Description = "EAP / EAP-IG: keep the N highest-|score| edges (default 50)" };
        var steps = new Option<int>("--steps") { Description = "EAP-IG interpolation steps", DefaultValueFactory = _ => 5 };
        var igOver = new Option<string?>("--ig-over")
        {
            Description = "EAP-IG: interpolate the input embeddings (inputs, the default), each node's output in turn, everything after it recomputed (activations: finds chains of saturated gates that the inputs path misses; costs 1 + 2·layers times the backward passes), or each receiver's own input in turn, every other input clean (receivers: also finds inputs that matter only together with another, AND-like; costs one backward per receiver per step, each from the receiver's layer)",
        };
        var maxSteps = new Option<int?>("--max-steps")
        {
            Description = "EAP-IG over receiver inputs: give a receiver whose edges miss completeness (their sum vs the metric with its whole input corrupted) by more than 0.05 · |clean − corrupted| the midpoints of its grid, doubling its steps up to N (default: --steps, no refinement)",
        };
        var unsplit = new Option<bool>("--no-qkv-split") { Description = "One receiver per head instead of its q, k and v inputs (models with one k/v head per query head)" };
        var process = ModelOptions.Process();
        var output = new Option<string>("--out", "-o") { Description = "Directory for circuit.json and circuit.svg", DefaultValueFactory = _ => "circuit" };
        var command = new Command("circuit", "Find the circuit (heads, MLPs and the edges between them) that carries a task: ACDC, EAP or EAP-IG.")
        { model, task, pairs, count, seed, method, metric, tau, edges, steps, igOver, maxSteps, unsplit, process, output, allowUnused };
        command.SetAction((parse, cancel) =>
        {
            string methodName = parse.GetValue(method)!.ToLowerInvariant();
            if (methodName is not ("acdc" or "eap" or "eap-ig")) throw new UsageException($"--method {methodName}: use acdc, eap or eap-ig");
            var metricKind = ParseOrUsage(() => Metric.Parse(parse.GetValue(metric)!));
            if (metricKind == MetricKind.Loss) throw new UsageException("--metric loss reads every position; circuits need logit_diff, prob_diff or kl");
            string? taskName = parse.GetValue(task), pairsPath = parse.GetValue(pairs);
            if ((taskName is null) == (pairsPath is null)) throw new UsageException("give either --task NAME or --pairs FILE");
            if (methodName == "acdc" && parse.GetValue(edges) is not null) throw new UsageException("--edges is for eap and eap-ig; ACDC's size is set by --tau");
            if (methodName != "acdc" && parse.GetValue(tau) is not null) throw new UsageException("--tau is for acdc; eap and eap-ig keep --edges N");
            string? over = parse.GetValue(igOver)?.ToLowerInvariant();
            if (over is not (null or "inputs" or "activations" or "receivers")) throw new UsageException($"--ig-over {over}: use inputs, activations or receivers");
            if (over is not null && methodName != "eap-ig") throw new UsageException("--ig-over is for --method eap-ig");
            int stepCount = methodName == "eap" ? 1 : parse.GetValue(steps);
            if (stepCount < 1) throw new UsageException($"--steps {stepCount}: at least 1");
            int? maxStepCount = parse.GetValue(maxSteps);
            if (maxStepCount is not null && over != "receivers") throw new UsageException("--max-steps is for --method eap-ig --ig-over receivers");
            if (maxStepCount < stepCount) throw new UsageException($"--max-steps {maxStepCount}: at least --steps ({stepCount})");
            string outDir = OutputFiles.PrepareDirectory(parse.GetValue(output)!);
            using var loaded = ModelOptions.Load(parse.GetValue(model), parse.GetValue(process), allowUnused: parse.GetValue(allowUnused), notes: parse.InvocationConfiguration.Error);
            FiniteForward.CheckProbe(loaded.Model, "circuit");
            var tokenizer = loaded.RequireTokenizer();
            var stdout = parse.InvocationConfiguration.Output;
            var stderr = parse.InvocationConfiguration.Error;
            TokenizedPairs tokenized;
            string source;
            if (taskName is not null)
            {
                var generator = TaskSets.Find(taskName) ?? throw new UsageException($"--task {taskName}: unknown (known: {string.Join(", ", TaskSets.All.Select(t => t.Name))})");
                var set = generator.Generate(tokenizer, new TaskSetOptions { Count = parse.GetValue(count), Seed = parse.GetValue(seed), ContextLength = loaded.Model.Config.ContextLength });
                tokenized = set.Tokenize(tokenizer, $"task {taskName}", loaded.Model.Config.ContextLength);
                source = $"task:{taskName}";
            }
            else
            {
                tokenized = PromptPairSet.Load(pairsPath!).Tokenize(tokenizer, pairsPath!, loaded.Model.Config.ContextLength);
                source = pairsPath!;
            }

            var graph = CircuitGraph.Create(loaded.Model.Config, splitQkv: !parse.GetValue(unsplit));
            var patcher = EdgePatcher.Create(loaded.Model, tokenized, metricKind, graph);
            stderr.WriteLine($"graph: {graph.Senders.Count} senders, {graph.Receivers.Count} receivers, {graph.EdgeCount} edges; {patcher.Metric.Name}: clean {patcher.CleanMetric:G5}, corrupted {patcher.CorruptedMetric:G5}");
            var clock = Stopwatch.StartNew();
            Circuit circuit;
            if (methodName == "acdc")
            {
                double threshold = parse.GetValue(tau) ?? 0.01;
                string statePath = Path.Combine(outDir, "acdc-state.json");
                var state = LoadState(statePath, patcher, threshold, source, stderr);
                try
                {
                    circuit = ProgressDisplay.Run(stderr, "acdc", progress =>
                        Acdc.Run(patcher, threshold, state, s => SaveState(statePath, s, source), progress, cancel));
                }
                catch (OperationCanceledException) when (cancel.IsCancellationRequested)
                {
                    throw new CommandStoppedException($"circuit stopped; ACDC's progress is saved in {statePath} (run the same command to resume)");
                }
                File.Delete(statePath);
            }
            else
            {
                int keep = parse.GetValue(edges) ?? Math.Min(50, graph.EdgeCount);
                var scores = ProgressDisplay.Run(stderr, methodName, _ => methodName == "eap"
                    ? EapScores.Compute(loaded.Model, tokenized, metricKind, graph)
                    : over == "activations" ? EapIgScores.Activations(loaded.Model, tokenized, metricKind, graph, stepCount, cancel)
                    : over == "receivers" ? EapIgScores.ReceiverInputs(loaded.Model, tokenized, metricKind, graph, stepCount, maxSteps: maxStepCount ?? stepCount, cancel: cancel)
                    : EapIgScores.Compute(loaded.Model, tokenized, metricKind, graph, stepCount, cancel));
                var settings = new Dictionary<string, string> { ["metric"] = patcher.Metric.Name, ["split_qkv"] = graph.SplitQkv ? "true" : "false" };
                if (methodName == "eap-ig")
                {
                    settings["steps"] = stepCount.ToString(CultureInfo.InvariantCulture);
                    settings["ig_over"] = over ?? "inputs";
                    if (over == "receivers") settings["max_steps"] = (maxStepCount ?? stepCount).ToString(CultureInfo.InvariantCulture);
                }
                circuit = TopEdges.Select(graph, scores, keep, methodName, settings);
            }
            double seconds = clock.Elapsed.TotalSeconds;
            var faithfulness = Faithfulness.Of(patcher, circuit);
            var necessity = Faithfulness.Necessity(patcher, circuit);
            var kept = circuit.Edges;
            OutputFiles.WriteJson(Path.Combine(outDir, "circuit.json"), new
            {
                model = loaded.Path,
                weight_processing = loaded.Model.Processing.ToString(),
                pairs = source,
                method = circuit.Method,
                settings = circuit.Settings,
                metric = patcher.Metric.Name,
                clean_metric = patcher.CleanMetric,
                corrupted_metric = patcher.CorruptedMetric,
                graph = new { senders = graph.Senders.Count, receivers = graph.Receivers.Count, edges = graph.EdgeCount, split_qkv = graph.SplitQkv },
                faithfulness = new { edges = faithfulness.Edges, fraction = faithfulness.Fraction, metric = faithfulness.Metric, normalized = faithfulness.Value, how = "every edge outside the circuit carries the corrupted run's sender output" },
                nodes = circuit.Nodes.Order(StringComparer.Ordinal).ToArray(),
                edges = kept.Select((e, i) => new { sender = graph.Senders[graph.Edges[e].Sender].Name, receiver = graph.Receivers[graph.Edges[e].Receiver].Name, score = circuit.Scores[e], necessity = necessity[i] }).ToArray(),
                seconds,
            }, stderr);
            CircuitSvg.Save(Path.Combine(outDir, "circuit.svg"), circuit, $"{circuit.Method} on {Path.GetFileName(loaded.Path)} ({source}): {circuit.EdgeCount} edges, faithfulness {faithfulness.Value:0.000}");
            stdout.WriteLine($"{circuit.Method}: {circuit.EdgeCount} of {graph.EdgeCount} edges, {circuit.Nodes.Count} nodes in {seconds:0.0} s; faithfulness {faithfulness.Value:0.000} ({patcher.Metric.Name} {faithfulness.Metric:G5} alone vs clean {patcher.CleanMetric:G5}, corrupted {patcher.CorruptedMetric:G5})");
            stdout.WriteLine($"nodes: {string.Join(", ", circuit.Nodes.Order(StringComparer.Ordinal))}");
            stdout.WriteLine($"wrote {Path.Combine(outDir, "circuit.json")} and circuit.svg");
            return Task.FromResult(ExitCodes.Success);
        });
        return command;
    }

    private sealed record SavedState(string Pairs, double Tau, int Edges, int Visited, double Current, bool[] Removed, double?[] Scores);

    private static AcdcState? LoadState(string path, EdgePatcher patcher, double tau, string source, TextWriter notes)
    {
        if (!File.Exists(path)) return null;
        SavedState? saved;
        try { saved = JsonSerializer.Deserialize<SavedState>(File.ReadAllText(path)); }
        catch (JsonException e) { throw new HeadMinerException($"{path}: not a saved ACDC state ({e.Message}); delete it to start over"); }
        if (saved is null || saved.Pairs != source || saved.Tau != tau || saved.Edges != patcher.Graph.EdgeCount || saved.Removed.Length != saved.Edges || saved.Scores.Length != saved.Edges)
            throw new HeadMinerException($"{path}: a saved ACDC state for other settings (pairs, --tau or model); delete it or use another --out");
        notes.WriteLine($"resuming ACDC from {path}: {saved.Visited} receivers done");
        return new AcdcState { Removed = saved.Removed, Visited = saved.Visited, Current = saved.Current, Tau = tau, Scores = saved.Scores.Select(s => s ?? double.NaN).ToArray() };
    }

    private static void SaveState(string path, AcdcState state, string source) =>
        AtomicFile.WriteAllText(path, JsonSerializer.Serialize(new SavedState(source, state.Tau, state.Removed.Length, state.Visited, state.Current, state.Removed,
            state.Scores.Select(s => double.IsFinite(s) ? s : (double?)null).ToArray())));

    private static T ParseOrUsage<T>(Func<T> parse)
    {
        try { return parse(); }
        catch (HeadMinerException e) { throw new UsageException(e.Message); }
    }
}
