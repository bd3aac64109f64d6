using System.Diagnostics;
using System.Globalization;
using HeadMiner.Analysis.Calibration;
using HeadMiner.Analysis.Catalog;
using HeadMiner.Analysis.Detectors;
using HeadMiner.Hooks;
using HeadMiner.Models;
using HeadMiner.Models.Tokenizers;
using HeadMiner.Tensors;
using HeadMiner.Tensors.Json;

namespace HeadMiner.Analysis.Atlas;

/// <summary>
/// Runs every applicable detector on one model and assembles the atlas: per detector its scores (or the reason it was
/// skipped), the causal confirmation for detectors with a task metric, and per head the types whose threshold it
/// passes with attention examples. A detector that fails is reported as failed with its message; the others still run.
/// </summary>
public static class AtlasRunner
{
    public static AtlasReport Run(Transformer model, ITokenizer? tokenizer, AtlasModel modelInfo, AtlasOptions? options = null,
        IProgress<AtlasProgress>? progress = null, CancellationToken cancel = default)
    {
        options ??= new AtlasOptions();
        options.Validate();
        var catalog = HeadCatalog.Load();
        var detectors = DetectorRegistry.Parse(options.Detectors);
        // Broken weights (NaN/∞ in the forward pass) are an error before the detectors start, naming the first hook
        // point where they show; a weights-only checkpoint cannot run a forward pass and its detectors read weights.
        if (model.Weights.IsRunnable) FiniteForward.CheckProbe(model, $"atlas of {modelInfo.Path}");
        var context = new DetectorContext(model, tokenizer, options.Detector);
        var entries = new List<AtlasDetector>();
        var results = new List<(DetectorResult Result, HeadType? Type, AtlasCausal? Causal)>();
        AtlasComposition? composition = null;
        var causalCache = new CausalConfirmation.Cache();

        for (int i = 0; i < detectors.Count; i++)
        {
            cancel.ThrowIfCancellationRequested();
            var detector = detectors[i];
            var type = PrimaryType(catalog, detector.Id);
            var entry = new AtlasDetector
            {
                Id = detector.Id,
                HeadType = type?.Id,
                Stage = type?.StageText,
                Kind = KindName(detector.Kind),
                Description = detector.Description,
                Status = "skipped",
            };
            string? reason;
            try
            {
                reason = detector.CannotRun(context);
            }
            catch (HeadMinerException e)
            {
                reason = e.Message;
            }
            if (reason is not null)
            {
                entries.Add(entry with { Reason = reason });
                progress?.Report(new AtlasProgress(detector.Id, i, detectors.Count, "skipped", Detail: reason));
                continue;
            }
            progress?.Report(new AtlasProgress(detector.Id, i, detectors.Count, "running"));
            // Each detector starts from a collected heap: the float32 copies and buffers the previous one left behind
            // are returned to the system, so the atlas peaks at one detector's working set, not at the sum of them
            // (on a 1B-parameter model the difference is gigabytes; a full collection costs well under a second).
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            var clock = Stopwatch.StartNew();
            using var memory = new ResidentMemory.PhasePeak();
            DetectorResult result;
            try
            {
                result = DetectorRunner.Run(detector, context, null, cancel);
            }
            catch (HeadMinerException e)
            {
                entries.Add(entry with { Status = "failed", Reason = e.Message, Seconds = clock.Elapsed.TotalSeconds, PeakRssMiB = PeakMiB(memory) });
                progress?.Report(new AtlasProgress(detector.Id, i, detectors.Count, "failed", clock.Elapsed.TotalSeconds, e.Message));
                continue;
            }
            AtlasCausal? causal = null;
            string? causalNote = null;
            if (detector is ICausalDetector causalDetector)
            {
                progress?.Report(new AtlasProgress(detector.Id, i, detectors.Count, "causal check"));
                try
                {
                    if (causalDetector.CausalTask(context) is { } task)
                    {
                        // Every ablation run of the task resumes at its ablated layer from the clean run's residual.
                        using var reuse = model.ReusePrefixes();
                        causal = CausalConfirmation.Run(model, task, result, options, cancel, causalCache);
                        if (reuse.Reuse.LayersRun + reuse.Reuse.LayersSkipped > 0)
                            causal = causal with { Notes = [.. causal.Notes, $"prefix reuse: {reuse.Reuse.LayersSkipped} of {reuse.Reuse.LayersRun + reuse.Reuse.LayersSkipped} blocks not recomputed (ablation runs resume at the first ablated layer from the clean run's residual; results are bit for bit a full run's)"] };
                    }
                }
                catch (HeadMinerException e)
                {
                    causalNote = $"causal check failed: {e.Message}";
                }
            }
            double seconds = clock.Elapsed.TotalSeconds;
            entries.Add(entry with
            {
                Status = "ran",
                Seconds = Math.Round(seconds, 3),
                PeakRssMiB = PeakMiB(memory),
                Threshold = ShortestDouble.Of(result.Threshold),
                ThresholdReason = result.ThresholdReason,
                Baseline = result.Baseline is double b && double.IsFinite(b) ? b : null,
                Scores = AtlasReport.Matrix(result.Scores),
                IntervalLow = result.Low is { } low ? AtlasReport.Matrix(low) : null,
                IntervalHigh = result.High is { } high ? AtlasReport.Matrix(high) : null,
                Sampling = result.Sampling,
                ThresholdFalsePositiveRate = FalsePositiveRate(result, result.Threshold),
                Notes = causalNote is null ? result.Notes : [.. result.Notes, causalNote],
                Causal = causal,
            });
            results.Add((result, type, causal));
            if (detector.Id == "k_composition") composition = Composition(result);
            progress?.Report(new AtlasProgress(detector.Id, i, detectors.Count, "done", seconds));
        }

        var report = new AtlasReport
        {
            CreatedUtc = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
            ToolVersion = typeof(AtlasRunner).Assembly.GetName().Version?.ToString(3) ?? "0.0.0",
            Seed = options.Detector.Seed,
            Model = modelInfo,
            Detectors = entries,
            Heads = Heads(model.Config, results, options.ExamplesPerHead),
            Composition = composition,
            Notes = options.Notes,
        };
        var literature = Literature.LiteratureRegistry.Default.Match(modelInfo.Path, model);
        return literature is null ? report : report with { Literature = Literature.LiteratureAgreement.Check(literature, report) };
    }

    /// <summary>A phase's peak resident set in MiB (null where the system does not report it).</summary>
    private static double? PeakMiB(ResidentMemory.PhasePeak phase) => phase.Bytes is long bytes ? Math.Round(bytes / 1048576.0, 1) : null;

    /// <summary>The catalog type a detector measures: the one whose id is the detector's, else the first that names it.</summary>
    public static HeadType? PrimaryType(HeadCatalog catalog, string detectorId)
    {
        var measured = catalog.MeasuredBy(detectorId).ToList();
        return measured.FirstOrDefault(t => t.Id == detectorId) ?? measured.FirstOrDefault();
    }

    private static string KindName(DetectorKind kind) => kind switch
    {
        DetectorKind.AttentionPattern => "attention_pattern",
        DetectorKind.Weights => "weights",
        _ => "task",
    };

    private static List<AtlasHead> Heads(ModelConfig config, List<(DetectorResult Result, HeadType? Type, AtlasCausal? Causal)> results, int examples)
    {
        var heads = new List<AtlasHead>();
        for (int l = 0; l < config.Layers; l++)
        {
            for (int h = 0; h < config.Heads; h++)
            {
                var labels = new List<AtlasLabel>();
                var labelled = new List<DetectorResult>();
                foreach (var (result, type, causal) in results)
                {
                    // Detectors that measure no catalog type (k_composition: evidence for induction) label nothing.
                    if (type is null) continue;
                    float score = result.Score(l, h);
                    if (!result.IsLabelled(l, h)) continue;
                    var (low, high) = result.Interval(l, h);
                    labels.Add(new AtlasLabel(type.Id, type.StageText, Math.Round(score, 6))
                    {
                        Interval = [Math.Round(low, 6), Math.Round(high, 6)],
                        FalsePositiveRate = FalsePositiveRate(result, low),
                        EffectAlone = causal?.For(l, h)?.EffectAlone,
                        EffectAlonePercentile = causal?.For(l, h)?.PercentileAlone,
                        EffectTogether = causal?.For(l, h)?.EffectTogether,
                        EffectTogetherPercentile = causal?.For(l, h)?.PercentileTogether,
                        Grade = causal is null ? "no_task_metric" : causal.For(l, h)?.Grade ?? "not_checked",
                    });
                    labelled.Add(result);
                }
                // How far above its threshold a label is decides its rank: scores of different detectors are not on one scale.
                var order = labels.Zip(labelled).OrderByDescending(x => x.Second.Score(l, h) / Math.Max(x.Second.Threshold, 1e-6f)).ToList();
                var attended = new List<AtlasAttended>();
                // Examples from the detectors that labelled the head first, then from any detector with examples.
                foreach (var result in order.Select(x => x.Second).Concat(results.Select(r => r.Result)))
                {
                    foreach (var e in result.EvidenceFor(l, h).Examples)
                    {
                        if (attended.Count >= examples) break;
                        string prompt = $"{result.DetectorId} prompt {e.Prompt}";
                        if (attended.Any(a => a.Prompt == prompt && a.QueryIndex == e.Query && a.KeyIndex == e.Key)) continue;
                        attended.Add(new AtlasAttended(prompt, e.Query, e.QueryToken, e.Key, e.KeyToken, Math.Round(e.Weight, 4)));
                    }
                    if (attended.Count >= examples) break;
                }
                heads.Add(new AtlasHead { Layer = l, Head = h, Labels = [.. order.Select(x => x.First)], TopAttended = attended });
            }
        }
        return heads;
    }

    /// <summary>
    /// The measured chance that a head without the function scores at least <paramref name="score"/> (the null of
    /// untrained and shuffled-pattern models, <see cref="NullDistribution"/>). For a detector whose threshold is a
    /// multiple of its run's baseline (rare_words, k_composition: the null models had different thresholds), raw scores
    /// of different models are not comparable and only the null's maximum in baseline units is known: a score above
    /// it gets the sample's floor 1/(1 + n), one below it no rate (null).
    /// </summary>
    public static double? FalsePositiveRate(DetectorResult result, double score)
    {
        NullDistribution table;
        try
        {
            table = NullDistribution.Default;
        }
        catch (HeadMinerException)
        {
            return null;
        }
        if (table.Find(result.DetectorId) is not { Scores.Length: > 0 } entry || double.IsNaN(score)) return null;
        if (entry.Thresholds.Length > 1 && entry.RelativeMax is double relativeMax)
        {
            if (result.Baseline is not (double baseline and > 0)) return null;
            return score / baseline > relativeMax ? 1.0 / (1 + entry.Scores.Length) : null;
        }
        return table.FalsePositiveRate(result.DetectorId, score);
    }

    private static AtlasComposition? Composition(DetectorResult result)
    {
        var scores = new Dictionary<string, double?[][]>();
        foreach (var kind in new[] { "q", "k", "v" })
        {
            if (!result.Matrices.TryGetValue($"{kind}_composition", out var m)) continue;
            int layers = m.Dim(0), heads = m.Dim(1), n = layers * heads;
            scores[kind] = AtlasReport.Matrix(m.Contiguous().Reshape(n, n));
        }
        return scores.Count == 0 ? null : new AtlasComposition { Baseline = result.Baseline is double b && double.IsFinite(b) ? b : null, Scores = scores };
    }
}
