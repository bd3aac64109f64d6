using System.CommandLine;
using HeadMiner.Analysis.Patching;
using HeadMiner.Tasks;

namespace HeadMiner.Cli.Commands;

/// <summary>
/// `headminer path-patch`: path patching (IOI paper) from one sender head, or every head that can reach the
/// receivers, to the logits, heads' q/k/v inputs or MLPs' inputs. Writes path_patching.json and path_patching.csv.
/// </summary>
public static class PathPatchCommand
{
    public static Command Create()
    {
        var model = ModelOptions.Model();
        var allowUnused = ModelOptions.AllowUnused();
        var pairs = new Option<string>("--pairs") { Description = "Prompt-pair file (clean/corrupted prompts of equal token length, single-token answers)", Required = true };
        var receivers = new Option<string>("--receivers", "-r")
        {
            Description = "Where the paths end, comma-separated: \"logits\" (direct effect), heads' inputs, e.g. 3.0:q,3.0:k,4.1:v (k/v of a grouped-query model mean the k/v head of that query head), MLPs' inputs, e.g. mlp5; \"logits,mlp5\" counts the direct path and the path through MLP 5 together",
            Required = true,
        };
        var sender = new Option<string>("--sender", "-s") { Description = "Sender head L.H, or \"all\" for every head below the earliest receiver", DefaultValueFactory = _ => "all" };
        var metric = new Option<string>("--metric") { Description = "logit_diff, prob_diff, kl or loss", DefaultValueFactory = _ => "logit_diff" };
        var mlps = new Option<string>("--mlps")
        {
            Description = "frozen (default): pass 1 freezes every MLP with the other heads, so a path to the logits is the sender's direct write; on-path: the MLPs are recomputed and belong to every path (the IOI paper's definition: only the other heads are frozen)",
            DefaultValueFactory = _ => "frozen",
        };
        mlps.AcceptOnlyFromAmong("frozen", "on-path");
        var output = new Option<string>("--out", "-o") { Description = "Directory for path_patching.json and path_patching.csv", DefaultValueFactory = _ => "path-patch" };
        var parquet = TableOptions.Parquet();
        var top = TopOption.Create("How many senders the summary lists", 10);
        var process = ModelOptions.Process();
        var precision = ModelOptions.Precision();
        var command = new Command("path-patch", "Path patching: how much of the clean→corrupted change flows from a sender head to the logits or to heads' q/k/v inputs.")
        {
            model, pairs, receivers, sender, metric, mlps, output, parquet, top, process, allowUnused, precision,
        };
        command.SetAction((parse, cancel) =>
        {
            int topCount = parse.GetValue(top);
            MetricKind kind;
            try
            {
                kind = Metric.Parse(parse.GetValue(metric)!);
            }
            catch (HeadMinerException e)
            {
                throw new UsageException(e.Message);
            }
            string outDir = OutputFiles.PrepareDirectory(parse.GetValue(output)!);
            using var loaded = ModelOptions.Load(parse.GetValue(model), parse.GetValue(process), allowUnused: parse.GetValue(allowUnused), notes: parse.InvocationConfiguration.Error);
            var arithmetic = ModelOptions.ApplyPrecision(loaded, parse.GetValue(precision));
            var config = loaded.Model.Config;
            // Receivers and sender are checked against the model before any forward pass: a bad one is a usage error.
            PathReceivers parsedReceivers;
            (int Layer, int Head)? single = null;
            try
            {
                parsedReceivers = PathReceivers.Parse(parse.GetValue(receivers)!, config);
                string senderText = parse.GetValue(sender)!.Trim();
                if (!senderText.Equals("all", StringComparison.OrdinalIgnoreCase)) single = PathReceivers.ParseHead(senderText, config, "sender");
            }
            catch (HeadMinerException e)
            {
                throw new UsageException(e.Message);
            }
            if (single is { } s && parsedReceivers.ReachError(config, s.Layer, $"{s.Layer}.{s.Head}") is { } unreachable)
                throw new UsageException(unreachable);
            bool mlpsOnPath = parse.GetValue(mlps) == "on-path";
            if (mlpsOnPath && parsedReceivers.Mlps.Count > 0)
                throw new UsageException($"--mlps on-path counts every path through the MLPs already; MLP receivers ({string.Join(",", parsedReceivers.Mlps.Select(PathReceivers.MlpName))}) need --mlps frozen");

            string pairsPath = parse.GetValue(pairs)!;
            var tokenized = PromptPairSet.Load(pairsPath).Tokenize(loaded.RequireTokenizer(), pairsPath, loaded.Model.Config.ContextLength);
            var patching = PathPatching.Create(loaded.Model, tokenized, kind, mlpsOnPath);
            IReadOnlyList<PathPatchResult> results = single is { } one
                ? [patching.Patch(one.Layer, one.Head, parsedReceivers)]
                : ProgressDisplay.Run(parse.InvocationConfiguration.Error, "path patching", progress => patching.Sweep(parsedReceivers, cancel, progress)).Results;

            var matrix = new double?[config.Layers][];
            var rawMatrix = new double?[config.Layers][];
            for (int l = 0; l < config.Layers; l++)
            {
                matrix[l] = new double?[config.Heads];
                rawMatrix[l] = new double?[config.Heads];
            }
            foreach (var r in results)
            {
                matrix[r.SenderLayer][r.SenderHead] = Finite(r.Normalized);
                rawMatrix[r.SenderLayer][r.SenderHead] = Finite(r.Patched);
            }
            string? warning = Metric.DegenerateWarning(patching.Metric.Name, patching.CleanMetric, patching.CorruptedMetric, patching.DegeneratePairs);
            var stderr = parse.InvocationConfiguration.Error;
            if (warning is not null) stderr.WriteLine(warning);
            var report = new
            {
                model = loaded.Path,
                weight_processing = loaded.Model.Processing.ToString(),
                precision = ModelOptions.PrecisionName(arithmetic),
                arithmetic = ModelOptions.DescribePrecision(arithmetic),
                pairs_file = Path.GetFullPath(pairsPath),
                pairs = tokenized.Count,
                tokens_per_prompt = tokenized.Length,
                metric = patching.Metric.Name,
                clean_metric = patching.CleanMetric,
                corrupted_metric = patching.CorruptedMetric,
                normalization_undefined = warning is not null,
                degenerate_pairs = patching.DegeneratePairs,
                sign_convention = "normalized = (patched - corrupted) / (clean - corrupted): 1 = the path does not matter, 0 = the path alone gives the corrupted behaviour; effect = 1 - normalized. null where undefined (clean = corrupted) or where a head cannot reach the receivers.",
                freezing = mlpsOnPath
                    ? "pass 1 freezes every other head's z to its clean value and recomputes the MLPs (MLPs on the paths, as in the IOI paper)"
                    : "pass 1 freezes every other head's z and every MLP output to their clean values",
                mlps = mlpsOnPath ? "on-path" : "frozen",
                receivers = (parsedReceivers.IncludesLogits
                        ? new[] { new { receiver = "logits", layer = (int?)null, head = (int?)null, input = (string?)null, site_head = (int?)null, feeds_query_heads = (int[]?)null } }
                        : [])
                    .Concat(parsedReceivers.Inputs.Select(r => new { receiver = r.ToString(), layer = (int?)r.Layer, head = (int?)r.Head, input = (string?)r.InputName, site_head = (int?)r.SiteHead, feeds_query_heads = (int[]?)r.FedQueryHeads }))
                    .Concat(parsedReceivers.Mlps.Select(l => new { receiver = PathReceivers.MlpName(l), layer = (int?)l, head = (int?)null, input = (string?)"mlp_in", site_head = (int?)null, feeds_query_heads = (int[]?)null }))
                    .ToArray(),
                senders = results.Select(r => new
                {
                    layer = r.SenderLayer,
                    head = r.SenderHead,
                    raw = Finite(r.Patched),
                    normalized = Finite(r.Normalized),
                    effect = Finite(r.Effect),
                }).ToArray(),
                layers = config.Layers,
                heads = config.Heads,
                normalized_matrix = matrix,
                raw_matrix = rawMatrix,
            };
            string jsonPath = Path.Combine(outDir, "path_patching.json");
            string csvPath = Path.Combine(outDir, "path_patching.csv");
            OutputFiles.WriteJson(jsonPath, report, stderr);
            var tables = OutputFiles.WriteTable(csvPath, ["layer", "head", "raw", "normalized"],
                results.Select(r => (IReadOnlyList<object?>)[r.SenderLayer, r.SenderHead, r.Patched, r.Normalized]), parse.GetValue(parquet));

            var stdout = parse.InvocationConfiguration.Output;
            stdout.WriteLine($"path patching on {tokenized.Count} pair(s) of {tokenized.Length} tokens; weight processing: {loaded.Model.Processing}; arithmetic: {ModelOptions.DescribePrecision(arithmetic)}");
            stdout.WriteLine($"receivers: {DescribeReceivers(parsedReceivers)}; MLPs {(mlpsOnPath ? "on the paths (recomputed)" : "frozen")}");
            stdout.WriteLine($"{patching.Metric.Name}: clean {Text(patching.CleanMetric)}, corrupted {Text(patching.CorruptedMetric)}");
            stdout.WriteLine("effect = 1 − (patched − corrupted)/(clean − corrupted): share of the clean→corrupted change carried by the path");
            stdout.WriteLine($"{"sender",7}  {"raw",10}  {"normalized",10}  {"effect",8}");
            var ranked = results.OrderByDescending(r => double.IsNaN(r.Effect) ? double.NegativeInfinity : Math.Abs(r.Effect))
                .ThenBy(r => r.SenderLayer).ThenBy(r => r.SenderHead).Take(topCount);
            foreach (var r in ranked)
                stdout.WriteLine($"{$"{r.SenderLayer}.{r.SenderHead}",7}  {Text(r.Patched),10}  {Text(r.Normalized),10}  {Text(r.Effect),8}");
            stdout.WriteLine($"wrote {jsonPath} and {csvPath}");
            TableOptions.ReportWritten(stdout, tables);
            return Task.FromResult(ExitCodes.Success);
        });
        return command;
    }

    /// <summary>A table cell: undefined values read "n/a", never "NaN".</summary>
    private static string Text(double value) => double.IsFinite(value) ? value.ToString("F4", System.Globalization.CultureInfo.InvariantCulture) : "n/a";

    /// <summary>JSON has no NaN: undefined values are written as null.</summary>
    private static double? Finite(double value) => double.IsFinite(value) ? value : null;

    private static string DescribeReceivers(PathReceivers receivers) => receivers.IsLogits
        ? "logits (direct effect)"
        : string.Join(", ", (receivers.IncludesLogits ? new[] { "logits (direct path)" } : [])
            .Concat(receivers.Inputs.Select(r => r.Input == HeadInput.Query || r.FedQueryHeads.Length == 1
                ? r.ToString()
                : $"{r} (k/v head {r.SiteHead}, feeds query heads {string.Join(",", r.FedQueryHeads)})"))
            .Concat(receivers.Mlps.Select(l => $"{PathReceivers.MlpName(l)} (MLP input)")));
}
