using System.CommandLine;
using System.Globalization;
using HeadMiner.Analysis.Probing;
using HeadMiner.Hooks;
using HeadMiner.Reports;
using HeadMiner.Tasks;

namespace HeadMiner.Cli.Commands;

/// <summary>
/// `headminer probe`: a logistic-regression probe per head on hook_z over a labelled prompt set (layers × heads
/// validation accuracy, CSV + JSON + SVG heatmap), and optionally steering one head along its probe direction.
/// </summary>
public static class ProbeCommand
{
    public static Command Create()
    {
        var model = ModelOptions.Model();
        var allowUnused = ModelOptions.AllowUnused();
        var set = new Option<string>("--set") { Description = "Labelled prompts JSON ({\"examples\": [{\"prompt\", \"label\": 0|1}]}) or a prompt-pair file (clean = 1, corrupted = 0)", Required = true };
        var position = new Option<int>("--position") { Description = "Token probed, counted from the end (1 = last)", DefaultValueFactory = _ => 1 };
        var validation = new Option<double>("--validation") { Description = "Share held out for validation", DefaultValueFactory = _ => 0.3 };
        var lambda = new Option<double>("--l2") { Description = "L2 penalty on the standardised probe weights", DefaultValueFactory = _ => 1.0 };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the train/validation split", DefaultValueFactory = _ => 1UL };
        var steer = new Option<string?>("--steer") { Description = "Head L.H to steer along its probe direction (needs --pairs or a prompt-pair --set)" };
        var alpha = new Option<double>("--alpha") { Description = "Steering strength in standard deviations along the direction", DefaultValueFactory = _ => 5.0 };
        var pairs = new Option<string?>("--pairs") { Description = "Prompt pairs the steering metric is measured on (default: --set when it is a pair file)" };
        var metric = new Option<string>("--metric") { Description = "Steering metric: logit_diff | prob_diff | kl | loss", DefaultValueFactory = _ => "logit_diff" };
        var process = ModelOptions.Process();
        var output = new Option<string>("--out", "-o") { Description = "Directory for probe_accuracy.csv/.json and probe_accuracy.svg", DefaultValueFactory = _ => "probe" };
        var parquet = TableOptions.Parquet();
        var command = new Command("probe", "Linear probes on every head's output (ITI style); optional steering along a probe direction.")
        { model, set, position, validation, lambda, seed, steer, alpha, pairs, metric, process, output, parquet, allowUnused };
        command.SetAction((parse, cancel) =>
        {
            var steerHead = parse.GetValue(steer) is { } s ? ParseHead(s) : ((int, int)?)null;
            var metricKind = ParseOrUsage(() => Metric.Parse(parse.GetValue(metric)!));
            string outDir = OutputFiles.PrepareDirectory(parse.GetValue(output)!);
            string setPath = parse.GetValue(set)!;
            var data = LabelledPromptSet.Load(setPath);
            string? pairsPath = parse.GetValue(pairs) ?? (IsPairFile(setPath) ? setPath : null);
            if (steerHead is not null && pairsPath is null) throw new UsageException("--steer needs --pairs (prompt pairs to measure the metric on) when --set is not a prompt-pair file");
            var options = new ProbeOptions { ValidationFraction = parse.GetValue(validation), Lambda = parse.GetValue(lambda), Seed = parse.GetValue(seed), PositionFromEnd = parse.GetValue(position) };
            using var loaded = ModelOptions.Load(parse.GetValue(model), parse.GetValue(process), allowUnused: parse.GetValue(allowUnused), notes: parse.InvocationConfiguration.Error);
            FiniteForward.CheckProbe(loaded.Model, "probe"); // broken weights: one error naming where, before the work
            var tokenizer = loaded.RequireTokenizer();
            var (prompts, labels) = data.Tokenize(tokenizer, setPath, loaded.Model.Config.ContextLength);
            var result = ProgressDisplay.Run(parse.InvocationConfiguration.Error, "probing heads", progress => HeadProbing.Run(loaded.Model, prompts, labels, options, cancel, progress));
            var c = loaded.Model.Config;
            var stdout = parse.InvocationConfiguration.Output;

            var accuracy = new double[c.Layers, c.Heads];
            for (int l = 0; l < c.Layers; l++) for (int h = 0; h < c.Heads; h++) accuracy[l, h] = result.ValidationAccuracy[l, h];
            object? steering = null;
            if (steerHead is { } head)
            {
                var tokenized = PromptPairSet.Load(pairsPath!).Tokenize(tokenizer, pairsPath!, loaded.Model.Config.ContextLength);
                var effect = ProbeSteering.Measure(loaded.Model, tokenized, metricKind, result, head.Item1, head.Item2, parse.GetValue(alpha));
                stdout.WriteLine($"steering head {effect.Layer}.{effect.Head} by α = {effect.Alpha} σ (σ = {effect.Std:G4}) along its mass-mean direction, {effect.Metric}:");
                stdout.WriteLine($"  {"prompts",-10} {"before",10} {"after",10} {"change",10}");
                stdout.WriteLine($"  {"clean",-10} {effect.CleanBefore,10:F4} {effect.CleanAfter,10:F4} {effect.CleanAfter - effect.CleanBefore,10:F4}");
                stdout.WriteLine($"  {"corrupted",-10} {effect.CorruptedBefore,10:F4} {effect.CorruptedAfter,10:F4} {effect.CorruptedAfter - effect.CorruptedBefore,10:F4}");
                steering = new
                {
                    layer = effect.Layer,
                    head = effect.Head,
                    alpha = effect.Alpha,
                    std = effect.Std,
                    metric = effect.Metric,
                    pairs = pairsPath,
                    clean_before = effect.CleanBefore,
                    clean_after = effect.CleanAfter,
                    corrupted_before = effect.CorruptedBefore,
                    corrupted_after = effect.CorruptedAfter,
                };
            }
            OutputFiles.WriteJson(Path.Combine(outDir, "probe_accuracy.json"), new
            {
                model = loaded.Path,
                weight_processing = loaded.Model.Processing.ToString(),
                set = setPath,
                examples = prompts.Length,
                train = result.TrainCount,
                validation = result.ValidationCount,
                position_from_end = options.PositionFromEnd,
                l2 = options.Lambda,
                seed = options.Seed,
                probe = "logistic regression on standardised hook_z, L2, Newton's method in double",
                direction = "unit mass-mean (mean label 1 - mean label 0, training split); std = spread of training activations along it",
                axes = new[] { "layer", "head" },
                shape = new[] { c.Layers, c.Heads },
                validation_accuracy = result.ValidationAccuracy.ToArray(),
                train_accuracy = result.TrainAccuracy.ToArray(),
                direction_std = result.DirectionStd.ToArray(),
                directions = result.Directions.ToArray(),
                steering,
            }, parse.InvocationConfiguration.Error);
            var tables = OutputFiles.WriteTable(Path.Combine(outDir, "probe_accuracy.csv"), ["layer", "head", "validation_accuracy", "train_accuracy", "direction_std"],
                Enumerable.Range(0, c.Layers * c.Heads).Select(i => (IReadOnlyList<object?>)[i / c.Heads, i % c.Heads,
                    result.ValidationAccuracy.Span[i], result.TrainAccuracy.Span[i], result.DirectionStd.Span[i]]), parse.GetValue(parquet));
            new SvgHeatmap
            {
                Values = accuracy,
                Title = $"Probe validation accuracy ({result.ValidationCount} held-out prompts)",
                XLabel = "head",
                YLabel = "layer",
                Min = 0.5,
                Max = 1,
                CellSize = c.Heads > 24 ? 20 : 34,
            }.Save(Path.Combine(outDir, "probe_accuracy.svg"));

            stdout.WriteLine($"probed {c.Layers * c.Heads} heads on {result.TrainCount} training / {result.ValidationCount} validation prompts; best validation accuracy:");
            foreach (int i in Enumerable.Range(0, c.Layers * c.Heads).OrderByDescending(i => result.ValidationAccuracy.Span[i]).Take(10))
                stdout.WriteLine($"  L{i / c.Heads} H{i % c.Heads}  {result.ValidationAccuracy.Span[i]:F3}");
            stdout.WriteLine($"wrote {Path.Combine(outDir, "probe_accuracy.json")}, probe_accuracy.csv and probe_accuracy.svg");
            TableOptions.ReportWritten(stdout, tables);
            return Task.FromResult(ExitCodes.Success);
        });
        return command;
    }

    private static bool IsPairFile(string path)
    {
        try
        {
            using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(path));
            return doc.RootElement.ValueKind == System.Text.Json.JsonValueKind.Object && doc.RootElement.TryGetProperty("pairs", out _);
        }
        catch (System.Text.Json.JsonException)
        {
            return false;
        }
    }

    private static (int, int) ParseHead(string text)
    {
        var parts = text.Split('.');
        if (parts.Length == 2 && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int l)
            && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int h)) return (l, h);
        throw new UsageException($"--steer \"{text}\" must be LAYER.HEAD, e.g. 3.1");
    }

    private static T ParseOrUsage<T>(Func<T> parse)
    {
        try { return parse(); }
        catch (HeadMinerException e) { throw new UsageException(e.Message); }
    }
}
