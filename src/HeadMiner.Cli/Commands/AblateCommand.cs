using System.CommandLine;
using HeadMiner.Analysis.Ablation;
using HeadMiner.Hooks;
using HeadMiner.Hooks.Interventions;
using HeadMiner.Tasks;

namespace HeadMiner.Cli.Commands;

/// <summary>`headminer ablate`: ablate every attention head in turn and measure a metric and the loss.</summary>
public static class AblateCommand
{
    public static Command Create()
    {
        var model = ModelOptions.Model();
        var allowUnused = ModelOptions.AllowUnused();
        var pairs = new Option<string>("--pairs") { Description = "Prompt-pair file (docs/HOOKS.md)", Required = true };
        var kind = new Option<string>("--kind") { Description = "zero, mean (per-position mean over the clean prompts) or resample (the corrupted prompt's z)", DefaultValueFactory = _ => "zero" };
        kind.AcceptOnlyFromAmong("zero", "mean", "resample");
        var resampleFrom = new Option<string>("--resample-from") { Description = "With --kind resample: corrupted (the pair's corrupted prompt) or clean (pair b takes clean prompt b+1 mod n)", DefaultValueFactory = _ => "corrupted" };
        resampleFrom.AcceptOnlyFromAmong("corrupted", "clean");
        var metric = new Option<string>("--metric") { Description = "logit_diff, prob_diff, kl or loss", DefaultValueFactory = _ => "logit_diff" };
        var process = ModelOptions.Process();
        var perForward = new Option<int?>("--heads-per-forward") { Description = "Heads ablated per batched forward pass (default: as many as fit in 1024 token rows)" };
        var compare = new Option<bool>("--compare-loop") { Description = "Also run one forward per head and report the speedup (both timed after a warm-up run) and the largest difference" };
        var outDir = new Option<string>("--out", "-o") { Description = "Directory for ablation.json and ablation.csv", DefaultValueFactory = _ => "ablate" };
        var parquet = TableOptions.Parquet();
        var precision = ModelOptions.Precision();
        var command = new Command("ablate", "Ablate each attention head (zero / mean / resample) and measure the change in a metric and the loss.")
        {
            model, pairs, kind, resampleFrom, metric, process, perForward, compare, outDir, parquet, allowUnused, precision,
        };
        command.SetAction((parse, cancel) =>
        {
            var metricKind = Metric.Parse(parse.GetValue(metric)!);
            var ablation = parse.GetValue(kind) switch { "mean" => AblationKind.Mean, "resample" => AblationKind.Resample, _ => AblationKind.Zero };
            if (parse.GetValue(perForward) is int p && p <= 0) throw new UsageException($"--heads-per-forward {p} must be positive");
            string dir = OutputFiles.PrepareDirectory(parse.GetValue(outDir)!);
            string pairsPath = parse.GetValue(pairs)!;
            using var loaded = ModelOptions.Load(parse.GetValue(model), parse.GetValue(process), allowUnused: parse.GetValue(allowUnused), notes: parse.InvocationConfiguration.Error);
            var arithmetic = ModelOptions.ApplyPrecision(loaded, parse.GetValue(precision));
            FiniteForward.CheckProbe(loaded.Model, "ablate"); // broken weights: one error naming where, before the work
            var tokenized = PromptPairSet.Load(pairsPath).Tokenize(loaded.RequireTokenizer(), pairsPath, loaded.Model.Config.ContextLength);
            var source = parse.GetValue(resampleFrom) == "clean" ? ResampleSource.CleanPermutation : ResampleSource.Corrupted;
            var options = new AblationStudyOptions { Kind = ablation, Metric = metricKind, ResampleFrom = source, HeadsPerForward = parse.GetValue(perForward) };
            AblationStudyResult? loop = null;
            if (parse.GetValue(compare))
            {
                // Warm both paths up first (JIT, page-in of mapped weights) so the timings compare steady states.
                AblationStudy.Run(loaded.Model, tokenized, options, cancel);
                loop = AblationStudy.RunOneForwardPerHead(loaded.Model, tokenized, options, cancel);
                loop = AblationStudy.RunOneForwardPerHead(loaded.Model, tokenized, options, cancel);
            }
            var study = ProgressDisplay.Run(parse.InvocationConfiguration.Error, "ablating heads", progress => AblationStudy.Run(loaded.Model, tokenized, options, cancel, progress));
            double? maxDifference = loop is null ? null : study.Effects.Zip(loop.Effects).Max(e => Math.Max(Math.Abs(e.First.Metric - e.Second.Metric), Math.Abs(e.First.Loss - e.Second.Loss)));

            OutputFiles.WriteJson(Path.Combine(dir, "ablation.json"), new
            {
                model = loaded.Path,
                weight_processing = loaded.Model.Processing.ToString(),
                precision = ModelOptions.PrecisionName(arithmetic),
                arithmetic = ModelOptions.DescribePrecision(arithmetic),
                pairs = pairsPath,
                pair_count = study.Pairs,
                kind = parse.GetValue(kind),
                replacement = ablation switch
                {
                    AblationKind.Zero => "hook_z slice set to 0",
                    AblationKind.Mean => "hook_z slice set to its per-position mean over the clean prompts",
                    _ when source == ResampleSource.Corrupted => "hook_z slice set to its value on the same pair's corrupted prompt",
                    _ => "hook_z slice set to its value on clean prompt (b + 1) mod n",
                },
                metric = study.MetricName,
                baseline = new { metric = study.BaselineMetric, loss = study.BaselineLoss },
                heads_per_forward = study.HeadsPerForward,
                forwards = study.Forwards,
                elapsed_ms = study.Elapsed.TotalMilliseconds,
                loop_comparison = loop is null ? null : new { elapsed_ms = loop.Elapsed.TotalMilliseconds, speedup = loop.Elapsed / study.Elapsed, max_abs_difference = maxDifference },
                effects = study.Effects.Select(e => new { layer = e.Layer, head = e.Head, metric = e.Metric, delta = e.Delta, loss = e.Loss, delta_loss = e.DeltaLoss }).ToArray(),
            }, parse.InvocationConfiguration.Error);
            var tables = OutputFiles.WriteTable(Path.Combine(dir, "ablation.csv"), ["layer", "head", "metric", "delta", "loss", "delta_loss"],
                study.Effects.Select(e => (IReadOnlyList<object?>)[e.Layer, e.Head, e.Metric, e.Delta, e.Loss, e.DeltaLoss]), parse.GetValue(parquet));

            var output = parse.InvocationConfiguration.Output;
            output.WriteLine($"model: {loaded.Path}");
            output.WriteLine($"weight processing: {loaded.Model.Processing}; arithmetic: {ModelOptions.DescribePrecision(arithmetic)}");
            output.WriteLine($"{parse.GetValue(kind)} ablation of {study.Effects.Count} heads over {study.Pairs} pair(s); {study.MetricName} baseline {study.BaselineMetric:F4}, loss baseline {study.BaselineLoss:F4}");
            output.WriteLine($"{study.Forwards} batched forward(s) of up to {study.HeadsPerForward} heads: {study.Elapsed.TotalMilliseconds:F0} ms");
            if (loop is not null)
                output.WriteLine($"one forward per head: {loop.Elapsed.TotalMilliseconds:F0} ms; speedup {loop.Elapsed / study.Elapsed:F2}x; largest difference {maxDifference:E2}");
            output.WriteLine($"top heads by |delta {study.MetricName}|:");
            foreach (var e in study.Effects.OrderByDescending(e => Math.Abs(e.Delta)).ThenBy(e => e.Layer).ThenBy(e => e.Head).Take(10))
                output.WriteLine($"  L{e.Layer}H{e.Head,-4} {study.MetricName} {e.Metric,10:F4}  delta {e.Delta,10:F4}  loss {e.Loss,8:F4}  delta_loss {e.DeltaLoss,9:F4}");
            output.WriteLine($"wrote {Path.Combine(dir, "ablation.json")} and {Path.Combine(dir, "ablation.csv")}");
            TableOptions.ReportWritten(output, tables);
            return Task.FromResult(ExitCodes.Success);
        });
        return command;
    }
}
