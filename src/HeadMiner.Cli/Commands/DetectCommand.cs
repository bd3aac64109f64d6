using System.CommandLine;
using System.Text.Json;
using HeadMiner.Analysis.Detectors;

namespace HeadMiner.Cli.Commands;

/// <summary>`headminer detect`: run head detectors (docs/DETECTORS.md) and print each one's top heads.</summary>
public static class DetectCommand
{
    public static Command Create()
    {
        var model = ModelOptions.Model();
        var detectors = new Option<string?>("--detectors", "-d") { Description = $"Comma-separated detector ids (default: all): {string.Join(", ", DetectorRegistry.Ids)}" };
        var top = new Option<int>("--top", "-k") { Description = "Heads to show per detector", DefaultValueFactory = _ => 5 };
        var prompts = new Option<int>("--prompts") { Description = "Random-token prompts per pattern detector", DefaultValueFactory = _ => new DetectorOptions().Prompts };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the random prompts and probe tokens", DefaultValueFactory = _ => new DetectorOptions().Seed };
        var json = new Option<bool>("--json") { Description = "Print JSON instead of a table" };
        var process = ModelOptions.Process();
        var weightsOnly = ModelOptions.WeightsOnly();
        var command = new Command("detect", "Score every attention head for each head type (previous token, induction, copying, composition…) and show the top heads.")
        {
            model, detectors, top, prompts, seed, json, process, weightsOnly,
        };
        command.SetAction(parse =>
        {
            int k = parse.GetValue(top);
            if (k <= 0) throw new UsageException($"--top {k} must be positive");
            IReadOnlyList<IHeadDetector> chosen;
            try { chosen = DetectorRegistry.Parse(parse.GetValue(detectors)); }
            catch (HeadMinerException e) { throw new UsageException($"--detectors: {e.Message}"); }
            var options = new DetectorOptions { Prompts = parse.GetValue(prompts), Seed = parse.GetValue(seed) };
            try { options.Validate(); }
            catch (HeadMinerException e) { throw new UsageException(e.Message); }
            using var loaded = ModelOptions.Load(parse.GetValue(model), parse.GetValue(process), parse.GetValue(weightsOnly));
            var context = new DetectorContext(loaded.Model, loaded.Tokenizer, options);
            var runs = chosen.Select(d => (Detector: d, Skip: d.CannotRun(context), Result: d.CannotRun(context) is null ? d.Run(context) : null)).ToArray();
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json))
            {
                output.WriteLine(JsonSerializer.Serialize(new
                {
                    model = loaded.Path,
                    weight_processing = loaded.Model.Processing.ToString(),
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
                        scores = r.Result is { } res ? Rows(res) : null,
                        matrices = r.Result?.Matrices.ToDictionary(m => m.Key, m => m.Value.Shape.ToArray()),
                        top = r.Result?.Ranked().Take(k).Select(x => new
                        {
                            layer = x.Layer,
                            head = x.Head,
                            score = x.Score,
                            labelled = x.Score > r.Result.Threshold,
                            evidence = r.Result.EvidenceFor(x.Layer, x.Head).Summary,
                            examples = r.Result.EvidenceFor(x.Layer, x.Head).Examples.Select(e => e.ToString()).ToArray(),
                        }).ToArray(),
                    }).ToArray(),
                }, JsonOutput.Options));
                return ExitCodes.Success;
            }
            output.WriteLine($"{loaded.Path}: {loaded.Model.Config.Layers} layers × {loaded.Model.Config.Heads} heads; weight processing: {loaded.Model.Processing}");
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
                foreach (var (layer, head, score) in result.Ranked().Take(k))
                {
                    var evidence = result.EvidenceFor(layer, head);
                    string mark = score > result.Threshold ? "*" : " ";
                    output.WriteLine($" {mark} L{layer}H{head,-3} {score,8:0.000}  {evidence.Summary}");
                    foreach (var example in evidence.Examples) output.WriteLine($"      {example}");
                }
            }
            return ExitCodes.Success;
        });
        return command;
    }

    private static float?[][] Rows(DetectorResult result) =>
        [.. Enumerable.Range(0, result.Layers).Select(l => Enumerable.Range(0, result.Heads).Select(h => float.IsNaN(result.Score(l, h)) ? (float?)null : result.Score(l, h)).ToArray())];
}
