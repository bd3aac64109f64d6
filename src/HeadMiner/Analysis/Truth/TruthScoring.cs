using HeadMiner.Analysis.Atlas;

namespace HeadMiner.Analysis.Truth;

/// <summary>Compares an atlas of a planted model with its truth, and counts the labels an atlas gives at all.</summary>
public static class TruthScoring
{
    /// <summary>
    /// Per detector that ran and whose head type (the report's <c>head_type</c>, <see cref="AtlasRunner.PrimaryType"/>)
    /// was planted in this model: its counts for this one model, and the heads it got wrong ("FP L1H2", "FN L0H3").
    /// Detectors that were skipped, or whose type was not planted here, are not counted.
    /// </summary>
    public static IReadOnlyList<(TruthCount Count, IReadOnlyList<string> Mistakes)> Score(PlantedModel model, AtlasReport report)
    {
        var planted = model.Types;
        var results = new List<(TruthCount, IReadOnlyList<string>)>();
        foreach (var detector in report.Detectors)
        {
            if (detector.Status != "ran" || detector.HeadType is not { } type || !planted.Contains(type)) continue;
            int tp = 0, fp = 0, fn = 0;
            var mistakes = new List<string>();
            foreach (var head in report.Heads)
            {
                bool labelled = head.Labels.Any(l => l.Type == type);
                bool truth = model.IsPlanted(head.Layer, head.Head, type);
                if (labelled && truth) tp++;
                else if (labelled)
                {
                    fp++;
                    mistakes.Add($"FP L{head.Layer}H{head.Head}");
                }
                else if (truth)
                {
                    fn++;
                    mistakes.Add($"FN L{head.Layer}H{head.Head}");
                }
            }
            results.Add((new TruthCount(detector.Id, type, 1, tp, fp, fn), mistakes));
        }
        return results;
    }

    /// <summary>Labels per head type over all heads of a report (for models that should have none, e.g. untrained ones).</summary>
    public static IReadOnlyDictionary<string, int> LabelCounts(AtlasReport report)
    {
        var counts = new SortedDictionary<string, int>(StringComparer.Ordinal);
        foreach (var head in report.Heads)
            foreach (var label in head.Labels) counts[label.Type] = counts.GetValueOrDefault(label.Type) + 1;
        return counts;
    }
}
