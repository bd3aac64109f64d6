using System.CommandLine;
using HeadMiner.Analysis.Detectors;
using HeadMiner.Hooks;

namespace HeadMiner.Cli.Commands;

/// <summary>`headminer detect`: run head detectors (docs/DETECTORS.md) and print each one's top heads.</summary>
public static class DetectCommand
{
    public static Command Create()
    {
        var model = ModelOptions.Model();
        var allowUnused = ModelOptions.AllowUnused();
        var detectors = new Option<string?>("--detectors", "-d") { Description = $"Comma-separated detector ids (default: all): {string.Join(", ", DetectorRegistry.Ids)}" };
        var top = TopOption.Create("Heads to show per detector", 5, shortAlias: true);
        var prompts = new Option<int>("--prompts") { Description = "Random-token prompts per pattern detector", DefaultValueFactory = _ => new DetectorOptions().Prompts };
        var maxPrompts = new Option<int?>("--max-prompts") { Description = $"Prompt budget: while a head's 95% interval straddles its threshold the prompts double up to this (default {new DetectorOptions().MaxPrompts}, at least --prompts)" };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the random prompts and probe tokens", DefaultValueFactory = _ => new DetectorOptions().Seed };
        var json = new Option<bool>("--json") { Description = "Print JSON instead of a table" };
        var process = ModelOptions.Process();
        var weightsOnly = ModelOptions.WeightsOnly();
        var precision = ModelOptions.Precision();
        var command = new Command("detect", "Score every attention head for each head type (previous token, induction, copying, composition…) and show the top heads.")
        {
            model, detectors, top, prompts, maxPrompts, seed, json, process, weightsOnly, allowUnused, precision,
        };
        command.SetAction((parse, cancel) =>
        {
            int k = parse.GetValue(top);
            IReadOnlyList<IHeadDetector> chosen;
            try { chosen = DetectorRegistry.Parse(parse.GetValue(detectors)); }
            catch (HeadMinerException e) { throw new UsageException($"--detectors: {e.Message}"); }
            int count = parse.GetValue(prompts);
            var options = new DetectorOptions { Prompts = count, MaxPrompts = parse.GetValue(maxPrompts) ?? Math.Max(count, new DetectorOptions().MaxPrompts), Seed = parse.GetValue(seed) };
            try { options.Validate(); }
            catch (HeadMinerException e) { throw new UsageException(e.Message); }
            using var loaded = ModelOptions.Load(parse.GetValue(model), parse.GetValue(process), parse.GetValue(weightsOnly), allowUnused: parse.GetValue(allowUnused), notes: parse.InvocationConfiguration.Error);
            var arithmetic = ModelOptions.ApplyPrecision(loaded, parse.GetValue(precision));
            // The same options and runner as `atlas`: equal seeds give equal prompts, scores and intervals.
            IReadOnlyList<string> setup;
            try { (options, setup) = options.ForModel(loaded); }
            catch (HeadMinerException e) { throw new UsageException(e.Message); }
            // Broken weights are an error before the detectors start (a weights-only checkpoint has no forward pass).
            if (loaded.Model.Weights.IsRunnable) FiniteForward.CheckProbe(loaded.Model, "detect");
            var context = new DetectorContext(loaded.Model, loaded.Tokenizer, options);
            var runs = new List<(IHeadDetector Detector, string? Skip, DetectorResult? Result)>();
            try
            {
                foreach (var d in chosen)
                {
                    string? skip;
                    try { skip = d.CannotRun(context); }
                    catch (HeadMinerException e) { skip = e.Message; }
                    runs.Add((d, skip, skip is null ? DetectorRunner.Run(d, context, null, cancel) : null));
                }
            }
            catch (OperationCanceledException) when (cancel.IsCancellationRequested)
            {
                // The table is printed once every detector has run: a stop prints none of it.
                throw new CommandStoppedException($"detect stopped after {runs.Count} of {chosen.Count} detectors; nothing printed");
            }
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json))
            {
                JsonOutput.Print(output, parse.InvocationConfiguration.Error, new
                {
                    model = loaded.Path,
                    weight_processing = loaded.Model.Processing.ToString(),
                    precision = ModelOptions.PrecisionName(arithmetic),
                    arithmetic = ModelOptions.DescribePrecision(arithmetic),
                    seed = options.Seed,
                    setup,
                    detectors = runs.Select(r => new
                    {
                        id = r.Detector.Id,
                        kind = r.Detector.Kind.ToString(),
                        description = r.Detector.Description,
                        skipped = r.Skip,
                        threshold = r.Result?.Threshold,
                        threshold_reason = r.Result?.ThresholdReason,
                        baseline = r.Result?.Baseline,
                        notes = r.Result?.Notes,
                        sampling = r.Result?.Sampling,
                        scores = r.Result is { } res ? Rows(res) : null,
                        matrices = r.Result?.Matrices.ToDictionary(m => m.Key, m => m.Value.Shape.ToArray()),
                        top = r.Result?.Ranked().Take(k).Select(x => new
                        {
                            layer = x.Layer,
                            head = x.Head,
                            score = x.Score,
                            interval = new[] { r.Result.Interval(x.Layer, x.Head).Low, r.Result.Interval(x.Layer, x.Head).High },
                            labelled = r.Result.IsLabelled(x.Layer, x.Head),
                            evidence = r.Result.EvidenceFor(x.Layer, x.Head).Summary,
                            examples = r.Result.EvidenceFor(x.Layer, x.Head).Examples.Select(e => e.ToString()).ToArray(),
                        }).ToArray(),
                    }).ToArray(),
                });
                return Task.FromResult(ExitCodes.Success);
            }
            output.WriteLine($"{loaded.Path}: {loaded.Model.Config.Layers} layers × {loaded.Model.Config.Heads} heads; weight processing: {loaded.Model.Processing}; arithmetic: {ModelOptions.DescribePrecision(arithmetic)}; seed {options.Seed}");
            foreach (var line in setup) output.WriteLine(line);
            foreach (var (detector, skip, result) in runs)
            {
                output.WriteLine();
                if (result is null)
                {
                    output.WriteLine($"{detector.Id}: skipped: {skip}");
                    continue;
                }
                output.WriteLine($"{detector.Id}: {detector.Description}");
                output.WriteLine($"  threshold {result.Threshold:0.###}: {result.ThresholdReason}");
                output.WriteLine($"  {result.Sampling}");
                foreach (var (layer, head, score) in result.Ranked().Take(k))
                {
                    var evidence = result.EvidenceFor(layer, head);
                    var (low, high) = result.Interval(layer, head);
                    string mark = result.IsLabelled(layer, head) ? "*" : result.IsUndecided(layer, head) ? "?" : " ";
                    output.WriteLine($" {mark} L{layer}H{head,-3} {score,8:0.000} [{low:0.000}, {high:0.000}]  {TerminalText.Escape(evidence.Summary)}");
                    foreach (var example in evidence.Examples) output.WriteLine($"      {TerminalText.Escape(example.ToString() ?? "")}");
                }
            }
            return Task.FromResult(ExitCodes.Success);
        });
        return command;
    }

    private static float?[][] Rows(DetectorResult result) =>
        [.. Enumerable.Range(0, result.Layers).Select(l => Enumerable.Range(0, result.Heads).Select(h => float.IsNaN(result.Score(l, h)) ? (float?)null : result.Score(l, h)).ToArray())];
}
