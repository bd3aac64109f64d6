using System.CommandLine;
using System.Diagnostics;
using HeadMiner.Analysis.Attribution;
using HeadMiner.Analysis.Patching;
using HeadMiner.Cluster;
using HeadMiner.Hooks;
using HeadMiner.Models;
using HeadMiner.Tasks;

namespace HeadMiner.Cli.Commands;

/// <summary>
/// `headminer attrib-patch`: attribution patching (the gradient estimate of activation patching) of every head ×
/// position and MLP × position, optionally every edge, from two forwards and one backward. Options and files mirror
/// `headminer patch`; --compare also runs the exact sweeps and reports the Pearson correlation. The pairs are processed
/// in shards of --shard-pairs (<see cref="AttributionShards"/>), here one after another or with --cluster one unit per
/// shard on the workers: the same shards, added up in the same order, so the same bytes.
/// </summary>
public static class AttribPatchCommand
{
    public static Command Create()
    {
        var model = ModelOptions.Model();
        var allowUnused = ModelOptions.AllowUnused();
        var pairs = new Option<string>("--pairs") { Description = "Prompt-pair JSON file (clean, corrupted, answer, wrong)", Required = true };
        var metric = new Option<string>("--metric") { Description = "logit_diff | prob_diff | kl", DefaultValueFactory = _ => "logit_diff" };
        var edges = new Option<bool>("--edges") { Description = "Also score every sender → receiver edge (edge attribution patching) into attrib_edges.csv" };
        var compare = new Option<bool>("--compare") { Description = "Also run exact activation patching (z:pos and mlp_out) and report the Pearson correlation with the estimate" };
        var top = TopOption.Create("Rows of the strongest cells/edges to print", 10);
        var process = ModelOptions.Process();
        var output = new Option<string>("--out", "-o") { Description = "Directory for attrib_patching.json/.csv (and attrib_edges.csv)", DefaultValueFactory = _ => "attrib-patch" };
        var parquet = TableOptions.Parquet();
        var shardPairs = new Option<int>("--shard-pairs")
        {
            Description = "Pairs per forward/backward batch (and per cluster unit); sums are added shard by shard, so compare runs made with the same value",
            DefaultValueFactory = _ => AttributionShards.DefaultShardPairs,
        };
        var cluster = ClusterOptions.Config();
        var command = new Command("attrib-patch", "Attribution patching: the gradient estimate of patching every head, MLP (and edge) clean into corrupted.")
        { model, pairs, metric, edges, compare, top, process, output, parquet, allowUnused, shardPairs, cluster };
        command.SetAction((parse, cancel) =>
        {
            var metricKind = ParseOrUsage(() => Metric.Parse(parse.GetValue(metric)!));
            if (metricKind == MetricKind.Loss) throw new UsageException("--metric loss reads every position; attribution patching needs logit_diff, prob_diff or kl");
            int topN = parse.GetValue(top);
            int perShard = parse.GetValue(shardPairs);
            if (perShard < 1) throw new UsageException($"--shard-pairs must be at least 1, not {perShard}");
            if (parse.GetValue(compare) && parse.GetValue(cluster) is not null)
                throw new UsageException("--compare runs the exact sweeps in this process; it does not combine with --cluster (run `headminer patch --cluster` for those)");
            // A bad cluster config is an error before any work.
            var clusterConfig = parse.GetValue(cluster) is { } clusterPath ? ClusterOptions.Load(clusterPath) : null;
            string outDir = OutputFiles.PrepareDirectory(parse.GetValue(output)!);
            string pairsPath = parse.GetValue(pairs)!;
            var set = PromptPairSet.Load(pairsPath);
            using var loaded = ModelOptions.Load(parse.GetValue(model), parse.GetValue(process), allowUnused: parse.GetValue(allowUnused), notes: parse.InvocationConfiguration.Error);
            FiniteForward.CheckProbe(loaded.Model, "attrib-patch"); // broken weights: one error naming where, before the work
            var tokenizer = loaded.RequireTokenizer();
            var tokenized = set.Tokenize(tokenizer, pairsPath, loaded.Model.Config.ContextLength);
            var stdout = parse.InvocationConfiguration.Output;
            var stderr = parse.InvocationConfiguration.Error;

            var sw = Stopwatch.StartNew();
            int shards = AttributionShards.Plan(tokenized.Count, perShard).Count;
            AttributionPatchingResult nodes;
            EdgeAttributionResult? edgeResult;
            RunSpec? run = null;
            if (clusterConfig is not null)
            {
                var job = new AttribJob
                {
                    Clean = tokenized.Clean,
                    Corrupted = tokenized.Corrupted,
                    Answers = tokenized.Answers,
                    Wrongs = tokenized.Wrongs,
                    Metric = parse.GetValue(metric)!,
                    Edges = parse.GetValue(edges),
                    ShardPairs = perShard,
                };
                run = ClusterCommands.Spec("attrib", parse.GetValue(model), loaded, parse.GetValue(process), false, parse.GetValue(allowUnused), JobJson.Write(job), clusterConfig);
                try
                {
                    var results = ClusterRun.Execute(clusterConfig, run, outDir, ClusterOptions.Progress(stderr), cancel).GetAwaiter().GetResult();
                    (nodes, edgeResult) = AttributionShards.Merge(loaded.Model.Config, tokenized.Count, tokenized.Length, UnitRunner.AttribPartials(results));
                }
                catch (OperationCanceledException) when (cancel.IsCancellationRequested)
                {
                    throw new CommandStoppedException($"attrib-patch stopped; the shards finished so far are journaled in {ClusterRun.JournalDirectory(outDir, run.RunId)}: the same command resumes from them");
                }
            }
            else
            {
                (nodes, edgeResult) = AttributionShards.RunAll(loaded.Model, tokenized, metricKind, parse.GetValue(edges), perShard, cancel);
            }
            stderr.WriteLine($"attribution: {shards} shard(s) of at most {perShard} pairs, 2 forwards + 1 backward each{(edgeResult is null ? "" : $", {edgeResult.Edges.Count} edges")}, in {sw.Elapsed.TotalSeconds:F2} s");
            cancel.ThrowIfCancellationRequested();
            object? comparison = null;
            if (parse.GetValue(compare))
            {
                sw.Restart();
                var (exactHeads, exactMlp) = ProgressDisplay.Run(stderr, "exact patching", progress => (
                    ActivationPatching.Sweep(loaded.Model, tokenized, new PatchTarget(ActivationSite.Z, PatchGranularity.LayerHeadPosition), metricKind, progress: progress, cancel: cancel),
                    ActivationPatching.Sweep(loaded.Model, tokenized, new PatchTarget(ActivationSite.MlpOut, PatchGranularity.LayerPosition), metricKind, progress: progress, cancel: cancel)));
                double rHeads = Pearson.Correlation(nodes.Heads.Span, exactHeads.Normalized.Span);
                double rMlp = Pearson.Correlation(nodes.Mlp.Span, exactMlp.Normalized.Span);
                double rAll = Pearson.Correlation([.. nodes.Heads.ToArray(), .. nodes.Mlp.ToArray()], [.. exactHeads.Normalized.ToArray(), .. exactMlp.Normalized.ToArray()]);
                stderr.WriteLine($"exact patching in {sw.Elapsed.TotalSeconds:F1} s");
                stdout.WriteLine($"Pearson r, attribution vs exact (normalised): heads × positions {rHeads:F4}, MLP × positions {rMlp:F4}, all {rAll:F4}");
                comparison = new { pearson_heads = rHeads, pearson_mlp = rMlp, pearson_all = rAll, exact_heads = exactHeads.Normalized.ToArray(), exact_mlp = exactMlp.Normalized.ToArray() };
            }

            var c = loaded.Model.Config;
            OutputFiles.WriteJson(Path.Combine(outDir, "attrib_patching.json"), new
            {
                model = loaded.Path,
                weight_processing = nodes.WeightProcessing,
                pairs = pairsPath,
                direction = "denoising",
                metric = nodes.Metric,
                clean_metric = nodes.CleanMetric,
                corrupted_metric = nodes.CorruptedMetric,
                estimate = "(a_clean - a_corrupted) . d metric / d a, gradient on the corrupted run",
                normalisation = "(estimated - corrupted) / (clean - corrupted)",
                head_axes = AttributionPatchingResult.HeadAxes,
                head_shape = nodes.Heads.Shape.ToArray(),
                mlp_axes = AttributionPatchingResult.MlpAxes,
                mlp_shape = nodes.Mlp.Shape.ToArray(),
                position_tokens = tokenized.Clean[0].Select(tokenizer.TokenToString).ToArray(),
                heads_normalized = nodes.Heads.ToArray(),
                heads_raw = nodes.HeadsRaw.ToArray(),
                mlp_normalized = nodes.Mlp.ToArray(),
                mlp_raw = nodes.MlpRaw.ToArray(),
                edges = edgeResult?.Edges.Take(Math.Max(topN, 100)).Select(e => new { sender = e.Sender, receiver = e.Receiver, score = e.Score, normalized = e.Normalized }),
                comparison,
            }, parse.InvocationConfiguration.Error);
            var tables = OutputFiles.WriteTable(Path.Combine(outDir, "attrib_patching.csv"), ["component", "layer", "head", "position", "raw", "normalized"], NodeRows(nodes, c), parse.GetValue(parquet)).ToList();
            if (edgeResult is not null)
                tables.AddRange(OutputFiles.WriteTable(Path.Combine(outDir, "attrib_edges.csv"), ["rank", "sender", "receiver", "score", "normalized"],
                    edgeResult.Edges.Select((e, i) => (IReadOnlyList<object?>)[i + 1, e.Sender, e.Receiver, e.Score, e.Normalized]), parse.GetValue(parquet)));

            stdout.WriteLine($"{nodes.Metric}: clean {nodes.CleanMetric:F4}, corrupted {nodes.CorruptedMetric:F4} (weight processing: {loaded.Model.Processing})");
            stdout.WriteLine("strongest nodes (estimated, normalised):");
            foreach (var row in NodeRows(nodes, c).OrderByDescending(r => Math.Abs((float)r[5]!)).Take(topN))
                stdout.WriteLine($"  {Label(row),-18} {(float)row[5]!,8:F3}");
            if (edgeResult is not null)
            {
                stdout.WriteLine("strongest edges (estimated, normalised):");
                foreach (var e in edgeResult.Edges.Take(topN)) stdout.WriteLine($"  {e.Sender + " → " + e.Receiver,-24} {e.Normalized,8:F3}");
            }
            stdout.WriteLine($"wrote {Path.Combine(outDir, "attrib_patching.json")} and attrib_patching.csv{(edgeResult is null ? "" : " and attrib_edges.csv")}");
            if (run is not null) ClusterRun.Finish(outDir, run.RunId);
            TableOptions.ReportWritten(stdout, tables);
            return Task.FromResult(ExitCodes.Success);
        });
        return command;
    }

    private static string Label(IReadOnlyList<object?> row) =>
        (string)row[0]! == "head" ? $"L{row[1]} H{row[2]} pos {row[3]}" : $"MLP{row[1]} pos {row[3]}";

    private static T ParseOrUsage<T>(Func<T> parse)
    {
        try { return parse(); }
        catch (HeadMinerException e) { throw new UsageException(e.Message); }
    }

    private static IEnumerable<IReadOnlyList<object?>> NodeRows(AttributionPatchingResult r, ModelConfig c)
    {
        int T = r.Heads.Dim(2);
        for (int l = 0; l < c.Layers; l++)
            for (int h = 0; h < c.Heads; h++)
                for (int p = 0; p < T; p++)
                {
                    int i = (l * c.Heads + h) * T + p;
                    yield return ["head", l, h, p, r.HeadsRaw.Span[i], r.Heads.Span[i]];
                }
        for (int l = 0; l < c.Layers; l++)
            for (int p = 0; p < T; p++)
                yield return ["mlp", l, "", p, r.MlpRaw.Span[l * T + p], r.Mlp.Span[l * T + p]];
    }
}
