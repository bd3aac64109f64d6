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
        var detectors = DetectorRegistry.Parse(options.Detectors);
        // Broken weights (NaN/∞ in the forward pass) are an error before the detectors start, naming the first hook
        // point where they show; a weights-only checkpoint cannot run a forward pass and its detectors read weights.
        if (model.Weights.IsRunnable) FiniteForward.CheckProbe(model, $"atlas of {modelInfo.Path}");
        var outcomes = RunDetectors(model, tokenizer, options, [.. detectors.Select(d => d.Id)], progress, cancel);
        return AtlasCircuitRunner.Add(Assemble(model, modelInfo, options, outcomes), model, tokenizer, options, progress, cancel);
    }

    /// <summary>
    /// Runs the named detectors (a subset of <see cref="AtlasOptions.Detectors"/>, in registry order) and returns
    /// what the atlas needs of each: its entry and its per-head labels and examples. Detectors whose causal checks
    /// share a task (<see cref="CausalTask.Key"/>) share its evaluations here, as in a whole run; a split run keeps them
    /// in one unit (<see cref="AtlasUnits.Plan"/>), so every entry, including its count of evaluations, is the same.
    /// Progress indices count among every selected detector, not only these.
    /// </summary>
    public static IReadOnlyList<AtlasDetectorOutcome> RunDetectors(Transformer model, ITokenizer? tokenizer, AtlasOptions options,
        IReadOnlyList<string> detectorIds, IProgress<AtlasProgress>? progress = null, CancellationToken cancel = default)
    {
        options.Validate();
        var catalog = HeadCatalog.Load();
        var selected = DetectorRegistry.Parse(options.Detectors);
        // Detectors that scan the same prompts (the repeated-token pattern detectors; a rerun with doubled prompts)
        // share the patterns: each prompt's forward runs once per atlas.
        var context = new DetectorContext(model, tokenizer, options.Detector) { Patterns = new PatternMemo(model) };
        var outcomes = new List<AtlasDetectorOutcome>();
        var causalCache = new CausalConfirmation.Cache();

        foreach (var id in detectorIds)
        {
            cancel.ThrowIfCancellationRequested();
            var detector = DetectorRegistry.Get(id);
            int i = selected.ToList().IndexOf(detector);
            if (i < 0) throw new HeadMinerException($"detector \"{id}\" is not among the atlas's detectors ({options.Detectors ?? "all"})");
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
                outcomes.Add(new AtlasDetectorOutcome { Entry = entry with { Reason = reason } });
                progress?.Report(new AtlasProgress(detector.Id, i, selected.Count, "skipped", Detail: reason));
                continue;
            }
            progress?.Report(new AtlasProgress(detector.Id, i, selected.Count, "running"));
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
                outcomes.Add(new AtlasDetectorOutcome { Entry = entry with { Status = "failed", Reason = e.Message, Seconds = clock.Elapsed.TotalSeconds, PeakRssMiB = PeakMiB(memory) } });
                progress?.Report(new AtlasProgress(detector.Id, i, selected.Count, "failed", clock.Elapsed.TotalSeconds, e.Message));
                continue;
            }
            AtlasCausal? causal = null;
            string? causalNote = null;
            if (detector is ICausalDetector causalDetector)
            {
                progress?.Report(new AtlasProgress(detector.Id, i, selected.Count, "causal check"));
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
            outcomes.Add(new AtlasDetectorOutcome
            {
                Entry = entry with
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
                },
                Heads = HeadEvidence(model.Config, result, type, causal, options.ExamplesPerHead),
                Composition = detector.Id == "k_composition" ? Composition(result) : null,
            });
            progress?.Report(new AtlasProgress(detector.Id, i, selected.Count, "done", seconds));
        }
        return outcomes;
    }

    /// <summary>
    /// The atlas from every selected detector's outcome (any order: they are put in registry order here), whether
    /// they ran in this process (<see cref="Run"/>) or came from units run elsewhere: the same outcomes give the same
    /// report, byte for byte, except <see cref="AtlasReport.CreatedUtc"/> and the measured seconds.
    /// </summary>
    public static AtlasReport Assemble(Transformer model, AtlasModel modelInfo, AtlasOptions options, IEnumerable<AtlasDetectorOutcome> outcomes)
    {
        var selected = DetectorRegistry.Parse(options.Detectors).Select(d => d.Id).ToList();
        var byId = new Dictionary<string, AtlasDetectorOutcome>();
        foreach (var outcome in outcomes)
        {
            if (!selected.Contains(outcome.Entry.Id)) throw new HeadMinerException($"atlas outcome for \"{outcome.Entry.Id}\", which is not among the atlas's detectors");
            if (!byId.TryAdd(outcome.Entry.Id, outcome)) throw new HeadMinerException($"atlas outcome for \"{outcome.Entry.Id}\" arrived twice");
        }
        var missing = selected.Where(id => !byId.ContainsKey(id)).ToList();
        if (missing.Count > 0) throw new HeadMinerException($"atlas outcomes missing for {string.Join(", ", missing)}");
        var ordered = selected.Select(id => byId[id]).ToList();
        var report = new AtlasReport
        {
            CreatedUtc = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
            ToolVersion = typeof(AtlasRunner).Assembly.GetName().Version?.ToString(3) ?? "0.0.0",
            Seed = options.Detector.Seed,
            Model = modelInfo,
            Detectors = [.. ordered.Select(o => o.Entry)],
            Heads = Heads(model.Config, [.. ordered.Where(o => o.Heads is not null)], options.ExamplesPerHead),
            Composition = ordered.Select(o => o.Composition).LastOrDefault(c => c is not null),
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

    /// <summary>
    /// What one detector contributes to the per-head part of the atlas: for each head (row-major, layer × head) its
    /// label when it passes the threshold of a detector that measures a catalog type, the label's rank key (score over
    /// threshold: scores of different detectors are not on one scale) and its first distinct attention examples — at
    /// most as many as a head keeps, all the whole-run selection in <see cref="Heads"/> can ever take from it.
    /// </summary>
    private static List<AtlasHeadEvidence> HeadEvidence(ModelConfig config, DetectorResult result, HeadType? type, AtlasCausal? causal, int examples)
    {
        var heads = new List<AtlasHeadEvidence>();
        for (int l = 0; l < config.Layers; l++)
        {
            for (int h = 0; h < config.Heads; h++)
            {
                AtlasLabel? label = null;
                // Detectors that measure no catalog type (k_composition: evidence for induction) label nothing.
                if (type is not null && result.IsLabelled(l, h))
                {
                    float score = result.Score(l, h);
                    var (low, high) = result.Interval(l, h);
                    label = new AtlasLabel(type.Id, type.StageText, Math.Round(score, 6))
                    {
                        Interval = [Math.Round(low, 6), Math.Round(high, 6)],
                        FalsePositiveRate = FalsePositiveRate(result, low),
                        EffectAlone = causal?.For(l, h)?.EffectAlone,
                        EffectAlonePercentile = causal?.For(l, h)?.PercentileAlone,
                        EffectTogether = causal?.For(l, h)?.EffectTogether,
                        EffectTogetherPercentile = causal?.For(l, h)?.PercentileTogether,
                        Grade = causal is null ? "no_task_metric" : causal.For(l, h)?.Grade ?? "not_checked",
                    };
                }
                var attended = new List<AtlasAttended>();
                foreach (var e in result.EvidenceFor(l, h).Examples)
                {
                    if (attended.Count >= examples) break;
                    string prompt = $"{result.DetectorId} prompt {e.Prompt}";
                    if (attended.Any(a => a.Prompt == prompt && a.QueryIndex == e.Query && a.KeyIndex == e.Key)) continue;
                    attended.Add(new AtlasAttended(prompt, e.Query, e.QueryToken, e.Key, e.KeyToken, Math.Round(e.Weight, 4)));
                }
                heads.Add(new AtlasHeadEvidence
                {
                    Label = label,
                    Rank = label is null ? 0 : result.Score(l, h) / Math.Max(result.Threshold, 1e-6f),
                    Examples = attended,
                });
            }
        }
        return heads;
    }

    private static List<AtlasHead> Heads(ModelConfig config, List<AtlasDetectorOutcome> results, int examples)
    {
        var heads = new List<AtlasHead>();
        for (int l = 0; l < config.Layers; l++)
        {
            for (int h = 0; h < config.Heads; h++)
            {
                int index = l * config.Heads + h;
                var labelled = results.Select(r => r.Heads![index]).Where(e => e.Label is not null).ToList();
                // How far above its threshold a label is decides its rank (a stable sort: ties keep registry order).
                var order = labelled.OrderByDescending(e => e.Rank).ToList();
                var attended = new List<AtlasAttended>();
                // Examples from the detectors that labelled the head first, then from any detector with examples.
                foreach (var evidence in order.Concat(results.Select(r => r.Heads![index])))
                {
                    foreach (var e in evidence.Examples)
                    {
                        if (attended.Count >= examples) break;
                        if (attended.Any(a => a.Prompt == e.Prompt && a.QueryIndex == e.QueryIndex && a.KeyIndex == e.KeyIndex)) continue;
                        attended.Add(e);
                    }
                    if (attended.Count >= examples) break;
                }
                heads.Add(new AtlasHead { Layer = l, Head = h, Labels = [.. order.Select(e => e.Label!)], TopAttended = attended });
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
