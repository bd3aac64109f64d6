namespace HeadMiner.Analysis.Detectors;

/// <summary>Previous-token heads: each position attends to the one just before it. Target P[i, i−1] = 1.</summary>
public sealed class PreviousTokenDetector : TokenPatternDetector, ICausalDetector
{
    public override string Id => "previous_token";

    public override string Description =>
        "attends from each token to the token before it; score = share of attention on key i−1 (mul score, repeated random tokens)";

    protected override (float, string) Threshold =>
        (0.5f, "half of the head's attention on the previous token: a random-token prompt of ~50 tokens gives a uniform head ~0.04");

    protected override bool IsTarget(int[] ids, int i, int j) => j == i - 1;

    protected override int SecondHalfOffset(int segment) => 1;

    protected override string OffsetDescription => "mean A[i, i−1] over the second copy";

    /// <summary>
    /// Through the induction circuit: a previous-token head writes the token before each position, which induction
    /// heads' keys read, so ablating it raises the loss on the repeated half of repeated random tokens (Olsson et al.).
    /// Runs on every model with a forward pass, so it is preferred over the natural-text loss.
    /// </summary>
    public CausalTask? CausalTask(DetectorContext context) => CannotRun(context) is null ? InductionDetector.RepeatedTokensTask(context) : null;
}
