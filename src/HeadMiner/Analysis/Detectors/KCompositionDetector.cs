using HeadMiner.Analysis.Calibration;
using HeadMiner.Tensors;

namespace HeadMiner.Analysis.Detectors;

/// <summary>
/// K-composition: a later head whose keys read what an earlier head wrote (an induction head keys on the output of a
/// previous-token head). Per head (l2, h2) the score is the largest K-composition with any head of an earlier layer
/// (<see cref="CompositionScores"/>); layer-0 heads have no earlier head and score NaN. The result carries the full
/// Q-, K- and V-composition matrices [L, H, L, H] ("q_composition", "k_composition", "v_composition"), and the
/// evidence names each head's strongest Q-, K- and V-partner. Weights only: works on weights-only checkpoints.
/// </summary>
public sealed class KCompositionDetector : IHeadDetector
{
    public string Id => "k_composition";

    public string Description =>
        "keys read an earlier head's output; score = max over earlier heads of ‖W_OV1 W_QK2ᵀ‖/(‖W_OV1‖‖W_QK2‖) (Q and V composition in the matrices)";

    public DetectorKind Kind => DetectorKind.Weights;

    public string? CannotRun(DetectorContext context) => context.Config.Layers < 2 ? "composition needs at least two layers" : null;

    public DetectorResult Run(DetectorContext context, IProgress<double>? progress = null, CancellationToken cancel = default)
    {
        if (CannotRun(context) is { } reason) throw new HeadMinerException($"{Id}: {reason}");
        var c = context.Config;
        int L = c.Layers, H = c.Heads;
        var m = CompositionScores.Compute(context.Model, cancel);
        progress?.Report(1);
        double baseline = 1 / Math.Sqrt(c.DModel), aligned = 1 / Math.Sqrt(c.DHead), threshold = (baseline + aligned) / 2;
        var scores = Tensor.Full(float.NaN, L, H);
        var evidence = new List<HeadEvidence>();
        for (int l2 = 0; l2 < L; l2++)
            for (int h2 = 0; h2 < H; h2++)
            {
                if (l2 == 0)
                {
                    evidence.Add(new HeadEvidence(l2, h2, "layer 0: no earlier head to compose with"));
                    continue;
                }
                var (kl, kh, k) = Strongest(m.K, l2, h2);
                var (ql, qh, q) = Strongest(m.Q, l2, h2);
                var (vl, vh, v) = Strongest(m.V, l2, h2);
                scores[l2, h2] = k;
                evidence.Add(new HeadEvidence(l2, h2,
                    $"strongest K-composition with L{kl}H{kh} ({k:0.000}); Q with L{ql}H{qh} ({q:0.000}); V with L{vl}H{vh} ({v:0.000}); random baseline {baseline:0.000}"));
            }
        return new DetectorResult
        {
            DetectorId = Id,
            Scores = scores,
            Threshold = (float)threshold,
            ThresholdReason = $"halfway between independent random matrices (1/√d_model = {baseline:0.000}) and a head whose keys read, through a full-rank d_head map, exactly what the earlier head writes (1/√d_head = {aligned:0.000}); {NullDistribution.ThresholdNote(Id, threshold, threshold / baseline)}",
            Evidence = evidence,
            Processing = context.Model.Processing,
            Baseline = baseline,
            Matrices = new Dictionary<string, Tensor>
            {
                ["q_composition"] = m.Q,
                ["k_composition"] = m.K,
                ["v_composition"] = m.V,
            },
            Notes =
            [
                "matrices are [earlier layer, earlier head, later layer, later head], NaN unless earlier layer < later layer",
                "weights as the model holds them" + (context.Model.Processing.Any ? $" ({context.Model.Processing})" : " (unprocessed: LayerNorm scales not folded into W_Q/W_K/W_V)"),
            ],
        };
    }

    private static (int Layer, int Head, float Score) Strongest(Tensor m, int l2, int h2)
    {
        int H = m.Dim(1);
        (int, int, float) best = (0, 0, float.NegativeInfinity);
        for (int l1 = 0; l1 < l2; l1++)
            for (int h1 = 0; h1 < H; h1++)
                if (m[l1, h1, l2, h2] > best.Item3) best = (l1, h1, m[l1, h1, l2, h2]);
        return best;
    }
}
