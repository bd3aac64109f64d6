namespace HeadMiner.Analysis.Detectors;

/// <summary>
/// Induction heads: at a repeated token, attend to the token that followed its earlier occurrence (and, through the
/// OV circuit, predict it again). Target P[i, j+1] = 1 where tok_j = tok_i, j &lt; i.
/// </summary>
public sealed class InductionDetector : TokenPatternDetector, ICausalDetector
{
    public override string Id => "induction";

    public override string Description =>
        "attends from a repeated token to the token after its earlier occurrence; score = share of attention on keys j+1 with tok_j = tok_i, j < i (mul score, repeated random tokens)";

    protected override (float, string) Threshold =>
        (0.3f, "the induction target is one key among ~T+1 (chance ~0.04 with T = 25); 0.3 is several times that");

    protected override bool IsTarget(int[] ids, int i, int j) => j >= 1 && ids[j - 1] == ids[i]; // j ≤ i, so j − 1 < i

    protected override int SecondHalfOffset(int segment) => segment - 1;

    /// <summary>
    /// Loss on the second copy of repeated random tokens (each prediction whose token is predictable by copying:
    /// every position of the second copy but its last); induction heads are what make it low.
    /// </summary>
    public CausalTask? CausalTask(DetectorContext context) => CannotRun(context) is null ? RepeatedTokensTask(context) : null;

    /// <summary>
    /// The induction circuit's metric, shared by the detectors of its parts (previous-token and duplicate-token heads
    /// feed it): mean next-token loss on the second copy of repeated random tokens, seeded by the detector options.
    /// </summary>
    public static CausalTask RepeatedTokensTask(DetectorContext context)
    {
        int segment = Math.Min(context.Options.SegmentLength, (context.Config.ContextLength - 1) / 2);
        // Half the detection prompts (at least 4): the metric averages segment − 1 predictions per prompt, and the
        // atlas evaluates it once per ablation.
        var prompts = DetectorPrompts.Repeated(context, Math.Max(4, context.Options.Prompts / 2), segment, context.Options.Seed ^ 0xCA05A1UL);
        int first = prompts[0].Length - segment; // first token of the second copy
        var predictions = Enumerable.Range(first, segment - 1).ToArray();
        return new CausalTask("loss on the repeated half of repeated random tokens (nats)", HigherIsBetter: false,
            hooks => NextTokenLoss.Mean(context.Model, prompts, predictions, hooks))
        { Key = $"repeated_tokens_loss:{prompts.Length}x{segment}" };
    }

    protected override string OffsetDescription => "mean A[i, i−T+1] over the second copy (the induction score on repeated random tokens)";
}
