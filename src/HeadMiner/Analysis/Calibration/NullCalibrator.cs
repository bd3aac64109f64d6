using System.Diagnostics;
using System.Globalization;
using HeadMiner.Analysis.Detectors;

namespace HeadMiner.Analysis.Calibration;

/// <summary>
/// Runs every registered detector on every model of a null set (<see cref="NullModels"/>) and collects their per-head
/// scores into a <see cref="NullDistribution"/>. Detectors that cannot run on a model (no task set for its tokenizer)
/// contribute nothing from it; on shuffled-pattern models only attention-pattern detectors run.
/// </summary>
public static class NullCalibrator
{
    /// <summary>Detectors whose threshold is a multiple of the run's uniform-attention baseline (their null is also kept relative to it).</summary>
    public static bool IsRelative(IHeadDetector detector) => detector is TextPatternDetector or KCompositionDetector;

    public static NullDistribution Run(IReadOnlyList<NullModel> models, DetectorOptions? options = null, IReadOnlyList<IHeadDetector>? detectors = null,
        Action<string>? log = null, CancellationToken cancel = default)
    {
        options ??= new DetectorOptions();
        detectors ??= DetectorRegistry.All;
        var scores = detectors.ToDictionary(d => d.Id, _ => new List<double>());
        var relative = detectors.ToDictionary(d => d.Id, _ => new List<double>());
        var modelCount = detectors.ToDictionary(d => d.Id, _ => 0);
        var thresholds = detectors.ToDictionary(d => d.Id, _ => new SortedSet<double>());
        var infos = new List<NullDistribution.NullModelInfo>();
        foreach (var nullModel in models)
        {
            cancel.ThrowIfCancellationRequested();
            var clock = Stopwatch.StartNew();
            var (context, owner) = nullModel.Build(options);
            try
            {
                var c = context.Config;
                infos.Add(new NullDistribution.NullModelInfo(nullModel.Name, nullModel.Kind, nullModel.Kind == "shuffled" ? c.Architecture : nullModel.Architecture,
                    nullModel.Tokenizer, c.Layers, c.Heads, c.KvHeads, c.DModel, nullModel.Std, nullModel.Seed));
                int ran = 0;
                foreach (var detector in detectors)
                {
                    if (!nullModel.Applies(detector)) continue;
                    string? reason;
                    try
                    {
                        reason = detector.CannotRun(context);
                    }
                    catch (HeadMinerException e)
                    {
                        reason = e.Message;
                    }
                    if (reason is not null) continue;
                    var result = detector.Run(context, null, cancel);
                    var values = result.Scores.Contiguous().ToArray().Where(float.IsFinite).Select(v => (double)v).ToList();
                    if (values.Count == 0) continue;
                    scores[detector.Id].AddRange(values);
                    if (IsRelative(detector) && result.Baseline is double b && b > 0) relative[detector.Id].AddRange(values.Select(v => v / b));
                    modelCount[detector.Id]++;
                    thresholds[detector.Id].Add(Math.Round(result.Threshold, 4));
                    ran++;
                }
                log?.Invoke($"{nullModel.Name}: {ran} detectors, {clock.Elapsed.TotalSeconds:F1} s");
            }
            finally
            {
                owner?.Dispose();
            }
        }
        var entries = detectors.Where(d => scores[d.Id].Count > 0).Select(d => new NullDistribution.Entry(
            d.Id, [.. scores[d.Id]], modelCount[d.Id], Units(d), [.. thresholds[d.Id]],
            relative[d.Id].Count > 0 ? relative[d.Id].Max() : null));
        var settings = new List<string>
        {
            $"detector seed {options.Seed}",
            $"{options.Prompts} prompts per pattern detector",
            $"repeated-token segment T = {options.SegmentLength}",
            $"positional window {options.PositionalWindow}",
            $"{options.ProbeTokens} probe tokens",
            "BOS " + (options.PrependBos is bool p ? (p ? "always" : "never") : "whenever the tokenizer has one") + (options.ExcludeBos ? ", excluded from pattern scores" : ""),
        };
        return new NullDistribution(entries, settings, infos, DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture));
    }

    private static string Units(IHeadDetector d) => d.Id switch
    {
        "k_composition" => "raw score; its threshold scales with 1/√d_model and 1/√d_head; relative_max = max score / 1/√d_model",
        _ when IsRelative(d) => "raw score on the built-in passages; relative_max = max score / the run's uniform baseline",
        _ => "raw score",
    };
}
