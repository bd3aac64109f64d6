using HeadMiner.Models;
using HeadMiner.Tasks;

namespace HeadMiner.Analysis.Attribution;

/// <summary>
/// What node and edge attribution patching share: the clean run (activations only) and the corrupted run with
/// d(metric)/d(every activation) — two forwards and one backward — plus the two metric values used to normalise.
/// </summary>
public sealed record AttributionRuns(
    DifferentiableTransformer Forward,
    DifferentiableRun Clean,
    DifferentiableRun Corrupted,
    string Metric,
    double CleanMetric,
    double CorruptedMetric,
    string WeightProcessing)
{
    /// <summary>Estimates are divided by this (clean − corrupted), like activation patching's normalisation.</summary>
    public double Span => CleanMetric - CorruptedMetric;

    public static AttributionRuns Create(Transformer model, TokenizedPairs pairs, MetricKind metric)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(pairs);
        var forward = new DifferentiableTransformer(model);
        var clean = forward.Run(pairs.CleanBatch(), withGradient: false);
        var corrupted = forward.Run(pairs.CorruptedBatch(), withGradient: true);
        var (cleanValue, _) = MetricGradient.Compute(metric, pairs, clean.Logits.Value, clean.Logits.Value);
        var (corruptedValue, gradient) = MetricGradient.Compute(metric, pairs, corrupted.Logits.Value, clean.Logits.Value);
        DifferentiableTransformer.Backward(corrupted, gradient);
        return new AttributionRuns(forward, clean, corrupted, new Metric(metric, pairs, metric == MetricKind.KlDivergence ? clean.Logits.Value.Reshape(pairs.Count, 1, -1) : null).Name,
            cleanValue, corruptedValue, model.Processing.ToString());
    }
}
