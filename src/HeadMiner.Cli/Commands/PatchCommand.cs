using System.CommandLine;
using System.Diagnostics;
using HeadMiner.Analysis.Patching;
using HeadMiner.Cluster;
using HeadMiner.Models.Formats;
using HeadMiner.Reports;
using HeadMiner.Tasks;
using HeadMiner.Tensors;

namespace HeadMiner.Cli.Commands;

/// <summary>`headminer patch`: an activation-patching sweep over a prompt-pair file.</summary>
public static class PatchCommand
{
    public static Command Create()
    {
        var model = ModelOptions.Model();
        var allowUnused = ModelOptions.AllowUnused();
        var pairs = new Option<string>("--pairs") { Description = "Prompt-pair JSON file (clean, corrupted, answer, wrong)", Required = true };
        var target = new Option<string>("--target") { Description = "resid_pre|resid_mid|resid_post|attn_out|mlp_out (layer × position); z|q|k|v|pattern (layer × head); add :pos for layer × head × position", DefaultValueFactory = _ => "resid_pre" };
        var metric = new Option<string>("--metric") { Description = "logit_diff | prob_diff | kl | loss", DefaultValueFactory = _ => "logit_diff" };
        var direction = new Option<string>("--direction") { Description = "denoising (run corrupted, patch in clean) | noising (run clean, patch in corrupted)", DefaultValueFactory = _ => "denoising" };
        var naive = new Option<bool>("--naive") { Description = "Use the one-forward-per-patch reference loop (slow; for checking)" };
        var process = ModelOptions.Process();
        var output = new Option<string>("--out", "-o") { Description = "Directory for patching.json, patching.csv, patching.safetensors and patching.html", DefaultValueFactory = _ => "patch" };
        var parquet = TableOptions.Parquet();
        var precision = ModelOptions.Precision();
        var cluster = ClusterOptions.Config();
        var command = new Command("patch", "Activation patching: which activations carry the clean/corrupted difference.") { model, pairs, target, metric, direction, naive, process, output, parquet, allowUnused, precision, cluster };
        command.SetAction((parse, cancel) =>
        {
            var patchTarget = ParseOrUsage(() => PatchTarget.Parse(parse.GetValue(target)!));
            var metricKind = ParseOrUsage(() => Metric.Parse(parse.GetValue(metric)!));
            var dir = parse.GetValue(direction) switch
            {
                "denoising" => PatchDirection.Denoising,
                "noising" => PatchDirection.Noising,
                var other => throw new UsageException($"--direction \"{other}\" must be denoising or noising"),
            };
            if (parse.GetValue(naive) && parse.GetValue(cluster) is not null) throw new UsageException("--naive runs the reference loop in this process; it does not combine with --cluster");
            var clusterConfig = parse.GetValue(cluster) is { } clusterPath ? ClusterOptions.Load(clusterPath) : null;
            string outDir = OutputFiles.PrepareDirectory(parse.GetValue(output)!);
            string pairsPath = parse.GetValue(pairs)!;
            var set = PromptPairSet.Load(pairsPath);
            using var loaded = ModelOptions.Load(parse.GetValue(model), parse.GetValue(process), allowUnused: parse.GetValue(allowUnused), notes: parse.InvocationConfiguration.Error);
            var arithmetic = ModelOptions.ApplyPrecision(loaded, parse.GetValue(precision));
            // Workers load the model themselves in float32 arithmetic: a bf16 cluster sweep would silently mix the two.
            if (clusterConfig is not null && arithmetic != ArithmeticPrecision.Fp32)
                throw new UsageException("--precision bf16 is not carried to cluster workers yet; run the sweep with --cluster in fp32, or without --cluster");
            var tokenized = set.Tokenize(loaded.RequireTokenizer(), pairsPath, loaded.Model.Config.ContextLength);
            var stdout = parse.InvocationConfiguration.Output;
            var stderr = parse.InvocationConfiguration.Error;
            var sw = Stopwatch.StartNew();
            PatchingResult result;
            RunSpec? run = null;
            if (clusterConfig is not null)
            {
                var job = new PatchJob
                {
                    Clean = tokenized.Clean,
                    Corrupted = tokenized.Corrupted,
                    Answers = tokenized.Answers,
                    Wrongs = tokenized.Wrongs,
                    Target = parse.GetValue(target)!,
                    Metric = parse.GetValue(metric)!,
                    Direction = dir == PatchDirection.Denoising ? "denoising" : "noising",
                };
                run = ClusterCommands.Spec("patch", parse.GetValue(model), loaded, parse.GetValue(process), false, parse.GetValue(allowUnused), JobJson.Write(job), clusterConfig);
                try
                {
                    var results = ClusterRun.Execute(clusterConfig, run, outDir, ClusterOptions.Progress(stderr), cancel).GetAwaiter().GetResult();
                    result = ActivationPatching.Merge(loaded.Model, tokenized, patchTarget, metricKind, dir, UnitRunner.PatchParts(results));
                }
                catch (OperationCanceledException) when (cancel.IsCancellationRequested)
                {
                    throw new CommandStoppedException($"patch stopped; the layers finished so far are journaled in {ClusterRun.JournalDirectory(outDir, run.RunId)}: the same command resumes from them");
                }
            }
            else
            {
                result = ProgressDisplay.Run(stderr, "patching", progress => parse.GetValue(naive)
                    ? ActivationPatching.SweepNaive(loaded.Model, tokenized, patchTarget, metricKind, dir, progress, cancel)
                    : ActivationPatching.Sweep(loaded.Model, tokenized, patchTarget, metricKind, dir, progress: progress, cancel: cancel));
            }
            stderr.WriteLine($"patched {result.Raw.Length} cells in {sw.Elapsed.TotalSeconds:F1} s");
            string? warning = Metric.DegenerateWarning(result.Metric, result.CleanMetric, result.CorruptedMetric, result.DegeneratePairs);
            if (warning is not null) stderr.WriteLine(warning);

            var tokenizer = loaded.RequireTokenizer();
            var labels = tokenized.Clean[0].Select(tokenizer.TokenToString).ToArray();
            OutputFiles.WriteJson(Path.Combine(outDir, "patching.json"), new
            {
                model = loaded.Path,
                weight_processing = result.WeightProcessing,
                precision = ModelOptions.PrecisionName(arithmetic),
                arithmetic = ModelOptions.DescribePrecision(arithmetic),
                pairs = pairsPath,
                target = parse.GetValue(target),
                direction = dir.ToString().ToLowerInvariant(),
                metric = result.Metric,
                clean_metric = result.CleanMetric,
                corrupted_metric = result.CorruptedMetric,
                normalisation = "(patched - corrupted) / (clean - corrupted); null where clean - corrupted is (near) zero",
                normalization_undefined = warning is not null,
                degenerate_pairs = result.DegeneratePairs,
                axes = result.Axes,
                shape = result.Raw.Shape.ToArray(),
                kv_head_of_query_head = patchTarget.PerKvHead && loaded.Model.Config.KvHeads != loaded.Model.Config.Heads
                    ? Enumerable.Range(0, loaded.Model.Config.Heads).Select(loaded.Model.Config.KvHeadOf).ToArray() : null,
                position_tokens = labels,
                normalized = result.Normalized.ToArray(),
                raw = result.Raw.ToArray(),
            }, parse.InvocationConfiguration.Error);
            var tables = OutputFiles.WriteTable(Path.Combine(outDir, "patching.csv"), [.. result.Axes, "raw", "normalized"], Rows(result), parse.GetValue(parquet));
            ScoreTensors(result, loaded.Path, parse.GetValue(target)!, dir).AddMetadata("precision", ModelOptions.PrecisionName(arithmetic)).Save(Path.Combine(outDir, "patching.safetensors"));
            Report(result, labels, $"{parse.GetValue(target)}, {dir.ToString().ToLowerInvariant()}, {result.Metric}").Write(Path.Combine(outDir, "patching.html"));
            if (run is not null) ClusterRun.Finish(outDir, run.RunId);

            stdout.WriteLine($"{result.Metric}: clean {result.CleanMetric:F4}, corrupted {result.CorruptedMetric:F4} (weight processing: {loaded.Model.Processing}; arithmetic: {ModelOptions.DescribePrecision(arithmetic)})");
            if (warning is not null) stdout.WriteLine("normalised cells undefined (clean = corrupted); the raw metric per cell is in patching.json and patching.csv");
            else stdout.WriteLine($"strongest cells ({string.Join(" × ", result.Axes)}), normalised:");
            foreach (var (index, value) in Top(result, 10))
                stdout.WriteLine($"  {string.Join(", ", Unravel(index, result.Raw.Shape.ToArray())),-14} {value,8:F3}");
            stdout.WriteLine($"wrote {Path.Combine(outDir, "patching.json")}, patching.csv, patching.safetensors and patching.html");
            TableOptions.ReportWritten(stdout, tables);
            return Task.FromResult(ExitCodes.Success);
        });
        return command;
    }

    /// <summary>
    /// patching.html: the normalised sweep as heatmaps (signed colour scale centred on 0) — one for a 2-D sweep,
    /// one per layer (head × position) for a 3-D one.
    /// </summary>
    private static HtmlReport Report(PatchingResult r, string[] positionTokens, string description)
    {
        var shape = r.Raw.Shape.ToArray();
        var values = r.Normalized.ToArray();
        var report = new HtmlReport($"Activation patching: {description}")
            .Text($"clean {r.CleanMetric:G5}, corrupted {r.CorruptedMetric:G5}; each cell is (patched − corrupted) / (clean − corrupted), so 1 restores the clean behaviour and 0 changes nothing. Weight processing: {r.WeightProcessing}.");
        string[] Labels(string axis, int n) => axis == "position" && positionTokens.Length == n
            ? positionTokens.Select((t, i) => $"{i} {t}").ToArray()
            : Enumerable.Range(0, n).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        double? Cell(int index) => float.IsFinite(values[index]) ? Tensors.Json.ShortestDouble.Of(values[index]) : null;
        if (shape.Length == 2)
        {
            var grid = Enumerable.Range(0, shape[0]).Select(a => Enumerable.Range(0, shape[1]).Select(b => Cell(a * shape[1] + b)).ToArray()).ToArray();
            return report.Heatmap("normalised patching effect", Labels(r.Axes[0], shape[0]), Labels(r.Axes[1], shape[1]), grid, r.Axes[0], r.Axes[1], diverging: true);
        }
        for (int layer = 0; layer < shape[0]; layer++)
        {
            int l = layer;
            var grid = Enumerable.Range(0, shape[1]).Select(a => Enumerable.Range(0, shape[2]).Select(b => Cell((l * shape[1] + a) * shape[2] + b)).ToArray()).ToArray();
            report.Heatmap($"{r.Axes[0]} {l}", Labels(r.Axes[1], shape[1]), Labels(r.Axes[2], shape[2]), grid, r.Axes[1], r.Axes[2], diverging: true);
        }
        return report;
    }

    /// <summary>
    /// patching.safetensors: the sweep as two float32 tensors, <c>raw</c> and <c>normalized</c>, shaped by the axes
    /// (NaN where a normalised cell is undefined), with the axes and metrics as metadata, for numpy and torch.
    /// </summary>
    private static SafetensorsWriter ScoreTensors(PatchingResult r, string model, string target, PatchDirection direction)
    {
        var invariant = System.Globalization.CultureInfo.InvariantCulture;
        return new SafetensorsWriter()
            .AddMetadata("format", "headminer.patching")
            .AddMetadata("model", model)
            .AddMetadata("target", target)
            .AddMetadata("direction", direction.ToString().ToLowerInvariant())
            .AddMetadata("metric", r.Metric)
            .AddMetadata("axes", string.Join(",", r.Axes))
            .AddMetadata("clean_metric", r.CleanMetric.ToString("R", invariant))
            .AddMetadata("corrupted_metric", r.CorruptedMetric.ToString("R", invariant))
            .AddMetadata("weight_processing", r.WeightProcessing)
            .Add("raw", r.Raw)
            .Add("normalized", r.Normalized);
    }

    private static T ParseOrUsage<T>(Func<T> parse)
    {
        try { return parse(); }
        catch (HeadMinerException e) { throw new UsageException(e.Message); }
    }

    private static IEnumerable<(int Index, float Value)> Top(PatchingResult r, int k) =>
        r.Normalized.ToArray().Select((v, i) => (i, v)).Where(p => float.IsFinite(p.v)).OrderByDescending(p => Math.Abs(p.v)).Take(k);

    private static int[] Unravel(int index, int[] shape)
    {
        var result = new int[shape.Length];
        for (int a = shape.Length - 1; a >= 0; a--)
        {
            result[a] = index % shape[a];
            index /= shape[a];
        }
        return result;
    }

    private static IEnumerable<IReadOnlyList<object?>> Rows(PatchingResult r)
    {
        var shape = r.Raw.Shape.ToArray();
        var raw = r.Raw.ToArray();
        var norm = r.Normalized.ToArray();
        for (int i = 0; i < raw.Length; i++)
            yield return [.. Unravel(i, shape).Cast<object?>(), raw[i], norm[i]];
    }
}
