using HeadMiner.Analysis.Calibration;
using HeadMiner.Tensors;

namespace HeadMiner.Analysis.Detectors;

/// <summary>
/// Negative copying heads (copy suppression, negative name movers): attending to a token lowers that same token's
/// logit. Score = the share of probe tokens t (<see cref="DetectorOptions.ProbeTokens"/> random ordinary tokens) whose
/// own logit is strictly the lowest among the probes' logits when t's embedding goes through the head's OV circuit
/// W_V W_O W_U (<see cref="OvCircuit.ProbeLogits"/>). A copy-suppressing head scores near 1; chance is 1/probes.
/// Unlike the eigenvalue score it asks about each token's own logit directly, as the IOI paper's negative copy
/// score does (that one ranks against the whole vocabulary after MLP0; here the comparison set is the probes, which
/// keeps the cost at probes² per head, and the embedding is W_E itself).
/// </summary>
public sealed class NegativeCopyingDetector : IHeadDetector
{
    public string Id => "negative_copying";

    public string Description =>
        "lowers the logit of the token it attends to; score = share of probe tokens whose own logit is the lowest among the probes through W_E W_V W_O W_U";

    public DetectorKind Kind => DetectorKind.Weights;

    public string? CannotRun(DetectorContext context) => context.CannotReadEmbeddings();

    public DetectorResult Run(DetectorContext context, IProgress<double>? progress = null, CancellationToken cancel = default)
    {
        if (CannotRun(context) is { } reason) throw new HeadMinerException($"{Id}: {reason}");
        context.Options.Validate();
        var c = context.Config;
        var probes = OvCircuit.DrawProbes(context, context.Options.ProbeTokens, context.Options.Seed);
        int n = probes.Length;
        var logits = OvCircuit.ProbeLogits(context.Model, probes);
        var scores = Tensor.Zeros(c.Layers, c.Heads);
        var evidence = new List<HeadEvidence>();
        for (int l = 0; l < c.Layers; l++)
        {
            cancel.ThrowIfCancellationRequested();
            for (int h = 0; h < c.Heads; h++)
            {
                var r = logits[l][h];
                int lowest = 0, highest = 0;
                var suppressed = new List<(int Token, float Gap)>();
                for (int s = 0; s < n; s++)
                {
                    float own = r[s * n + s], otherMin = float.PositiveInfinity, otherMax = float.NegativeInfinity;
                    for (int t = 0; t < n; t++)
                        if (t != s) (otherMin, otherMax) = (Math.Min(otherMin, r[s * n + t]), Math.Max(otherMax, r[s * n + t]));
                    if (own < otherMin)
                    {
                        lowest++;
                        suppressed.Add((probes[s], otherMin - own));
                    }
                    if (own > otherMax) highest++;
                }
                float score = (float)lowest / n;
                scores[l, h] = score;
                var examples = suppressed.OrderByDescending(x => x.Gap).Take(context.Options.Examples)
                    .Select(x => $"{Quote(DetectorPrompts.TokenText(context, x.Token))} (by {x.Gap:G3})");
                evidence.Add(new HeadEvidence(l, h,
                    $"{lowest}/{n} probes lowest on their own logit, {highest}/{n} highest" + (suppressed.Count > 0 ? "; most suppressed: " + string.Join(", ", examples) : "")));
            }
            progress?.Report((l + 1.0) / c.Layers);
        }
        return new DetectorResult
        {
            DetectorId = Id,
            Scores = scores,
            Threshold = 0.5f,
            ThresholdReason = $"half the probes suppress themselves most; chance is 1/{n}; {NullDistribution.ThresholdNote(Id, 0.5)}",
            Evidence = evidence,
            Processing = context.Model.Processing,
            Baseline = 1.0 / n,
            Notes =
            [
                $"{n} probe tokens drawn from the ordinary vocabulary (seed {context.Options.Seed}); W_E is the raw token embedding; weights as the model holds them",
            ],
        };
    }

    private static string Quote(string token) => "\"" + token.Replace("\n", "\\n") + "\"";
}
