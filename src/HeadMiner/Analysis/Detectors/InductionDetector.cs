namespace HeadMiner.Analysis.Detectors;

/// <summary>
/// Induction heads: at a repeated token, attend to the token that followed its earlier occurrence (and, through the
/// OV circuit, predict it again). Target P[i, j+1] = 1 where tok_j = tok_i, j &lt; i.
/// </summary>
public sealed class InductionDetector : TokenPatternDetector
{
    public override string Id => "induction";

    public override string Description =>
        "attends from a repeated token to the token after its earlier occurrence; score = share of attention on keys j+1 with tok_j = tok_i, j < i (mul score, repeated random tokens)";

    protected override (float, string) Threshold =>
        (0.3f, "the induction target is one key among ~T+1 (chance ~0.04 with T = 25); 0.3 is several times that");

    protected override bool IsTarget(int[] ids, int i, int j) => j >= 1 && ids[j - 1] == ids[i]; // j ≤ i, so j − 1 < i

    protected override int SecondHalfOffset(int segment) => segment - 1;

    protected override string OffsetDescription => "mean A[i, i−T+1] over the second copy (the induction score on repeated random tokens)";
}
