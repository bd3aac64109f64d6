using HeadMiner.Analysis.Calibration;
using HeadMiner.Tensors;

namespace HeadMiner.Analysis.Detectors;

/// <summary>
/// Copying heads (OV circuit): attending to a token raises that same token's logit. Score = Σ Re λ / Σ |λ| over the
/// eigenvalues λ of the full OV circuit W_E W_V W_O W_U, computed on the d_head × d_head factor W_O W_U W_E W_V
/// (<see cref="OvCircuit.Factors"/>): 1 when every eigenvalue is positive real (a pure copier), −1 for a pure
/// suppressor, near 0 for a circuit unrelated to token identity. A circuit with no eigenvalue mass (e.g. a head
/// writing where the unembedding does not read) scores 0.
/// </summary>
public sealed class OvCopyingDetector : IHeadDetector
{
    public string Id => "ov_copying";

    public string Description =>
        "raises the logit of the token it attends to; score = Σλ/Σ|λ| (real parts) of the eigenvalues of the OV circuit W_E W_V W_O W_U";

    public DetectorKind Kind => DetectorKind.Weights;

    public string? CannotRun(DetectorContext context) => context.CannotReadEmbeddings();

    public DetectorResult Run(DetectorContext context, IProgress<double>? progress = null, CancellationToken cancel = default)
    {
        if (CannotRun(context) is { } reason) throw new HeadMinerException($"{Id}: {reason}");
        var c = context.Config;
        var factors = OvCircuit.Factors(context.Model);
        var scores = Tensor.Zeros(c.Layers, c.Heads);
        var evidence = new List<HeadEvidence>();
        for (int l = 0; l < c.Layers; l++)
        {
            cancel.ThrowIfCancellationRequested();
            for (int h = 0; h < c.Heads; h++)
            {
                var (score, sum, abs, largest) = EigenScore(factors[l][h], c.DHead);
                scores[l, h] = (float)score;
                evidence.Add(new HeadEvidence(l, h, $"Σλ = {sum:G4}, Σ|λ| = {abs:G4}, largest |λ| = {largest:G4}"));
            }
            progress?.Report((l + 1.0) / c.Layers);
        }
        return new DetectorResult
        {
            DetectorId = Id,
            Scores = scores,
            Threshold = 0.7f,
            ThresholdReason = $"most eigenvalue mass positive (a random circuit scores near 0, spread evenly between signs); {NullDistribution.ThresholdNote(Id, 0.7)}",
            Evidence = evidence,
            Processing = context.Model.Processing,
            Baseline = 0,
            Notes =
            [
                "W_E is the raw token embedding (no MLP0 'effective embedding'); weights as the model holds them" + (context.Model.Processing.Any ? $" ({context.Model.Processing})" : " (unprocessed: LayerNorm scales not folded in)"),
            ],
        };
    }

    /// <summary>(score, Σ Re λ, Σ |λ|, max |λ|) of a d × d factor; score 0 when Σ|λ| is negligible against the factor's size.</summary>
    public static (double Score, double Sum, double Abs, double Largest) EigenScore(double[] factor, int d)
    {
        var eig = RealEigenvalues.Compute(factor, d);
        double sum = eig.Sum(e => e.Real), abs = eig.Sum(e => e.Magnitude), largest = eig.Max(e => e.Magnitude);
        double frobenius = Math.Sqrt(factor.Sum(v => v * v));
        // Rounding leaves eigenvalues of size ~1e-7·‖F‖ on a nil circuit; their sign means nothing.
        double score = abs > 1e-5 * frobenius && abs > 0 ? sum / abs : 0;
        return (score, sum, abs, largest);
    }
}
