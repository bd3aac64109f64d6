namespace HeadMiner.Analysis.Detectors;

/// <summary>Duplicate-token heads: a token attends to earlier occurrences of itself. Target P[i, j] = 1 where tok_j = tok_i, j &lt; i.</summary>
public sealed class DuplicateTokenDetector : TokenPatternDetector, ICausalDetector
{
    public override string Id => "duplicate_token";

    public override string Description =>
        "attends from a token to its earlier occurrences; score = share of attention on keys j < i with tok_j = tok_i (mul score, repeated random tokens)";

    protected override (float, string) Threshold =>
        (0.3f, "the earlier occurrence is one key among ~T+1 (chance ~0.04 with T = 25); 0.3 is several times that");

    protected override bool IsTarget(int[] ids, int i, int j) => j < i && ids[j] == ids[i];

    protected override int SecondHalfOffset(int segment) => segment;

    protected override string OffsetDescription => "mean A[i, i−T] over the second copy (the token's first occurrence)";

    /// <summary>
    /// Through IOI where the tokenizer can build the set (duplicate-token heads mark S2 as a repeat for S-inhibition;
    /// Wang et al.): logit[IO] − logit[S]. Otherwise the repeated-tokens loss (attending to a token's earlier
    /// occurrence is the first step of copying what followed it).
    /// </summary>
    public CausalTask? CausalTask(DetectorContext context)
    {
        if (CannotRun(context) is not null) return null;
        return TaskPrompts.CannotRun(context, IoiHeadStats.Generator) is null
            ? TaskPrompts.Build(context, IoiHeadStats.Generator, context.Options.Prompts, Id).LogitDiffTask("IO")
            : InductionDetector.RepeatedTokensTask(context);
    }
}
