using HeadMiner.Analysis.Atlas;
using HeadMiner.Analysis.Catalog;
using HeadMiner.Analysis.Detectors;

namespace HeadMiner.Analysis.Literature;

/// <summary>
/// Compares what the atlas measured with what the papers say about a recognised model
/// (<see cref="LiteratureRegistry.Match(HeadMiner.Models.LoadedModel)"/>). A head fact ("9.9 is a name mover") agrees
/// when the atlas labels the head with that type — the score of the type's detector (from the catalog) passes the
/// detector's threshold — and disagrees when the detector ran and the head stays at or below it. A K-composition fact
/// ("4.11 → 6.9") agrees when the pair's K-composition score passes the <c>k_composition</c> detector's threshold.
/// A fact is not measurable when its detector was skipped (e.g. a weights-only checkpoint has no forward pass), failed,
/// or gives the head no score. Each row also carries the score and its rank, so a near miss reads as one.
/// </summary>
public static class LiteratureAgreement
{
    private sealed record Measured(string Status, string? Reason, double? Threshold, double?[][]? Scores, double?[][]? Lows = null);

    /// <summary>
    /// The agreement table from a detector run's results: <paramref name="results"/> are the detectors that ran;
    /// <paramref name="composition"/> the K-composition matrices (taken from the <c>k_composition</c> result when
    /// null); <paramref name="notRun"/> the skip or failure reason of detectors that did not run, by id.
    /// </summary>
    public static AtlasLiterature Check(LiteratureModel model, IReadOnlyList<DetectorResult> results, AtlasComposition? composition = null,
        IReadOnlyDictionary<string, string>? notRun = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(results);
        var measured = new Dictionary<string, Measured>(StringComparer.Ordinal);
        foreach (var (id, reason) in notRun ?? new Dictionary<string, string>()) measured[id] = new Measured("skipped", reason, null, null);
        foreach (var r in results) measured[r.DetectorId] = new Measured("ran", null, r.Threshold, AtlasReport.Matrix(r.Scores), r.Low is { } low ? AtlasReport.Matrix(low) : null);
        if (composition is null && results.FirstOrDefault(r => r.DetectorId == LiteratureFact.KComposition) is { } k
            && k.Matrices.TryGetValue("k_composition", out var m))
        {
            int n = m.Dim(0) * m.Dim(1);
            composition = new AtlasComposition { Baseline = k.Baseline, Scores = new Dictionary<string, double?[][]> { ["k"] = AtlasReport.Matrix(m.Contiguous().Reshape(n, n)) } };
        }
        return Evaluate(model, measured, composition);
    }

    /// <summary>The agreement table from a finished atlas (its detectors' status, scores and thresholds, and its composition).</summary>
    public static AtlasLiterature Check(LiteratureModel model, AtlasReport report)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(report);
        var measured = report.Detectors.ToDictionary(d => d.Id, d => new Measured(d.Status, d.Reason, d.Threshold, d.Scores, d.IntervalLow), StringComparer.Ordinal);
        return Evaluate(model, measured, report.Composition);
    }

    private static AtlasLiterature Evaluate(LiteratureModel model, Dictionary<string, Measured> measured, AtlasComposition? composition)
    {
        var catalog = HeadCatalog.Load();
        var rows = model.Facts.Select(f => f.IsRelation ? Relation(f, measured, composition) : HeadFact(f, catalog, measured)).ToList();
        return new AtlasLiterature
        {
            ModelId = model.Id,
            ModelName = model.Name,
            Fingerprint = model.MatchedFingerprint,
            Agrees = rows.Count(r => r.Verdict == AtlasLiteratureFact.Agrees),
            Disagrees = rows.Count(r => r.Verdict == AtlasLiteratureFact.Disagrees),
            NotMeasurable = rows.Count(r => r.Verdict == AtlasLiteratureFact.NotMeasurable),
            Facts = rows,
            Notes =
            [
                "a head fact agrees when the atlas labels the head with the type (the score of the type's detector passes its threshold) and disagrees when that detector ran and the head stays at or below it",
                "a k_composition fact agrees when the pair's K-composition score passes the k_composition detector's threshold; its rank is among all heads of earlier layers writing to the receiver",
                "not_measurable: the detector was skipped or failed on this model (the reason says why), or gives the head no score",
            ],
        };
    }

    private static AtlasLiteratureFact Row(LiteratureFact f, string? detector) => new()
    {
        Type = f.Type,
        Head = f.Head is { } h ? new AtlasLiteratureHead(h.Layer, h.Head) : null,
        Sender = f.Sender is { } s ? new AtlasLiteratureHead(s.Layer, s.Head) : null,
        Receiver = f.Receiver is { } r ? new AtlasLiteratureHead(r.Layer, r.Head) : null,
        Paper = f.Paper.Title,
        Arxiv = f.Paper.Arxiv,
        Detector = detector,
        Verdict = AtlasLiteratureFact.NotMeasurable,
        Note = f.Note,
    };

    private static AtlasLiteratureFact HeadFact(LiteratureFact f, HeadCatalog catalog, Dictionary<string, Measured> measured)
    {
        string? detector = catalog.Find(f.Type)?.Detector;
        var row = Row(f, detector);
        if (detector is null) return row with { Reason = $"no detector measures {f.Type}" };
        if (!measured.TryGetValue(detector, out var m)) return row with { Reason = $"the {detector} detector did not run" };
        if (m.Status != "ran" || m.Scores is null) return row with { Reason = $"the {detector} detector {m.Status}: {m.Reason}" };
        var head = f.Head!;
        if (head.Layer >= m.Scores.Length || head.Head >= m.Scores[head.Layer].Length)
            return row with { Reason = $"the atlas's model has no head {head}" };
        if (m.Scores[head.Layer][head.Head] is not double score) return row with { Reason = $"the {detector} detector gives {head} no score" };
        var all = m.Scores.SelectMany(x => x).OfType<double>().ToList();
        // Labelled as the atlas labels: the interval's lower bound (the score itself when exact) above the threshold.
        double bound = m.Lows?[head.Layer][head.Head] ?? score;
        bool labelled = m.Threshold is double t && bound > t;
        return row with
        {
            Verdict = labelled ? AtlasLiteratureFact.Agrees : AtlasLiteratureFact.Disagrees,
            Labelled = labelled,
            Score = score,
            Threshold = m.Threshold,
            Rank = 1 + all.Count(v => v > score),
            RankOf = all.Count,
            RankAmong = "heads",
            Reason = labelled ? $"labelled {f.Type}"
                : bound < score ? $"{detector} score {score:0.###}, 95% interval from {bound:0.###}: the lower bound is not above the threshold {m.Threshold:0.###}"
                : $"{detector} score {score:0.###} is not above the threshold {m.Threshold:0.###}",
        };
    }

    private static AtlasLiteratureFact Relation(LiteratureFact f, Dictionary<string, Measured> measured, AtlasComposition? composition)
    {
        var row = Row(f, LiteratureFact.KComposition);
        measured.TryGetValue(LiteratureFact.KComposition, out var m);
        if (m is not null && m.Status != "ran") return row with { Reason = $"the {LiteratureFact.KComposition} detector {m.Status}: {m.Reason}" };
        if (composition is null || !composition.Scores.TryGetValue("k", out var k)) return row with { Reason = $"the {LiteratureFact.KComposition} detector did not run" };
        if (m?.Scores is not { Length: > 0 } shape) return row with { Reason = $"the {LiteratureFact.KComposition} detector's threshold and shape are not known here" };
        int heads = shape[0].Length;
        int sender = f.Sender!.Layer * heads + f.Sender.Head, receiver = f.Receiver!.Layer * heads + f.Receiver.Head;
        if (receiver >= k.Length || sender >= k.Length) return row with { Reason = $"the atlas's model has no head {f.Receiver}" };
        if (k[sender][receiver] is not double score) return row with { Reason = $"no K-composition score for {f.Subject}" };
        var column = Enumerable.Range(0, f.Receiver.Layer * heads).Select(i => k[i][receiver]).OfType<double>().ToList();
        bool passes = m.Threshold is double t && score > t;
        return row with
        {
            Verdict = passes ? AtlasLiteratureFact.Agrees : AtlasLiteratureFact.Disagrees,
            Labelled = passes,
            Score = score,
            Threshold = m.Threshold,
            Rank = 1 + column.Count(v => v > score),
            RankOf = column.Count,
            RankAmong = $"senders to {f.Receiver}",
            Reason = passes ? "above the K-composition threshold" : $"K-composition {score:0.###} is not above the threshold {m.Threshold:0.###}",
        };
    }
}
