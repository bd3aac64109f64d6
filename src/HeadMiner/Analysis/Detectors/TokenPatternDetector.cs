using HeadMiner.Analysis.Calibration;
using HeadMiner.Tensors;

namespace HeadMiner.Analysis.Detectors;

/// <summary>
/// The shared machinery of the previous-token, duplicate-token and induction detectors: TransformerLens's "mul"
/// pattern score on repeated random tokens ([BOS] + s + s, s a random segment of T distinct ordinary tokens).
/// A 0/1 target P[i, j] marks the keys a head of the type should attend to; per head
/// score = Σ A⊙P / Σ A over the query rows that have a target, summed over prompts, where with
/// <see cref="DetectorOptions.ExcludeBos"/> the BOS column is left out of both sums (attention resting on BOS
/// neither counts for nor against the head). Each detector also reports its fixed-offset score on the second copy
/// ("offset" matrix: mean A[i, i − o] over second-half queries i), the definition used on repeated tokens in the
/// induction-head literature.
/// </summary>
public abstract class TokenPatternDetector : IHeadDetector
{
    public abstract string Id { get; }
    public abstract string Description { get; }
    public DetectorKind Kind => DetectorKind.AttentionPattern;

    /// <summary>Label threshold and why.</summary>
    protected abstract (float Value, string Reason) Threshold { get; }

    /// <summary>Whether key j is a target of query i (j ≤ i) on the token sequence <paramref name="ids"/>.</summary>
    protected abstract bool IsTarget(int[] ids, int i, int j);

    /// <summary>The fixed offset o of the second-half score, as a function of the segment length T (e.g. T − 1 for induction).</summary>
    protected abstract int SecondHalfOffset(int segment);

    /// <summary>How the offset score is described in the notes.</summary>
    protected abstract string OffsetDescription { get; }

    public virtual string? CannotRun(DetectorContext context) => context.CannotRunForward();

    public DetectorResult Run(DetectorContext context, IProgress<double>? progress = null, CancellationToken cancel = default)
    {
        if (CannotRun(context) is { } reason) throw new HeadMinerException($"{Id}: {reason}");
        context.Options.Validate();
        var c = context.Config;
        int L = c.Layers, H = c.Heads, T = context.Options.SegmentLength;
        var prompts = DetectorPrompts.Repeated(context, context.Options.Prompts, T, context.Options.Seed);
        bool bos = DetectorPrompts.Bos(context) is not null;
        bool skipBos = bos && context.Options.ExcludeBos;
        int first = bos ? 1 : 0, length = prompts[0].Length, offset = SecondHalfOffset(T);

        // Target masks depend only on the tokens: one per prompt, [T, T] as bytes.
        var targets = prompts.Select(ids => TargetMask(ids, skipBos)).ToArray();
        var onTarget = new double[L * H];
        var total = new double[L * H];
        var promptOn = prompts.Select(_ => new double[L * H]).ToArray();
        var promptAll = prompts.Select(_ => new double[L * H]).ToArray();
        var offsetSum = new double[L * H];
        var examples = new Tensor[L * H];
        int offsetRows = 0;
        for (int i = first + T; i < length; i++) if (i - offset >= 0) offsetRows++;

        PatternScan.Run(context, prompts, (layer, p, pattern) =>
        {
            var a = pattern.Contiguous().Span;
            var mask = targets[p];
            for (int h = 0; h < H; h++)
            {
                int k = layer * H + h, headBase = h * length * length;
                double on = 0, all = 0, off = 0;
                for (int i = 0; i < length; i++)
                {
                    if (!mask.HasTarget[i]) continue;
                    int row = headBase + i * length;
                    for (int j = skipBos ? 1 : 0; j <= i; j++)
                    {
                        all += a[row + j];
                        if (mask.Target[i * length + j]) on += a[row + j];
                    }
                }
                for (int i = first + T; i < length; i++)
                    if (i - offset >= 0) off += a[headBase + i * length + i - offset];
                onTarget[k] += on;
                total[k] += all;
                promptOn[p][k] = on;
                promptAll[p][k] = all;
                offsetSum[k] += off;
                if (p == 0) examples[k] = pattern.Select(0, h).Clone();
            }
        }, progress, cancel);

        var scores = Tensor.Zeros(L, H);
        var offsetScores = Tensor.Zeros(L, H);
        var evidence = new List<HeadEvidence>(L * H);
        for (int l = 0; l < L; l++)
            for (int h = 0; h < H; h++)
            {
                int k = l * H + h;
                float score = total[k] > 0 ? (float)(onTarget[k] / total[k]) : 0f;
                float offsetScore = offsetRows > 0 ? (float)(offsetSum[k] / (offsetRows * prompts.Length)) : float.NaN;
                scores[l, h] = score;
                offsetScores[l, h] = offsetScore;
                var mask = targets[0];
                evidence.Add(new HeadEvidence(l, h,
                    $"{score:0.000} of its {(skipBos ? "non-BOS " : "")}attention on target keys; offset score {offsetScore:0.000}",
                    PatternEvidence.Top(context, 0, prompts[0], examples[k], skipBos, i => mask.HasTarget[i])));
            }
        var (threshold, why) = Threshold;
        return new DetectorResult
        {
            DetectorId = Id,
            Scores = scores,
            Threshold = threshold,
            ThresholdReason = $"{why}; {NullDistribution.ThresholdNote(Id, threshold)}",
            Evidence = evidence,
            Processing = context.Model.Processing,
            Matrices = new Dictionary<string, Tensor> { ["offset"] = offsetScores },
            Samples = ScoreSamples.Ratio("prompts", promptOn, promptAll, grows: true),
            Notes =
            [
                $"{prompts.Length} prompts of {(bos ? "BOS + " : "")}a random segment of {T} distinct ordinary tokens repeated twice (seed {context.Options.Seed})",
                DetectorPrompts.PoolNote(context),
                skipBos ? "the BOS column is excluded from both sums of the score" : "every key column counts, the first token included",
                $"offset matrix: {OffsetDescription}",
            ],
        };
    }

    private sealed record Mask(bool[] Target, bool[] HasTarget);

    private Mask TargetMask(int[] ids, bool skipBos)
    {
        int n = ids.Length;
        var target = new bool[n * n];
        var has = new bool[n];
        for (int i = 0; i < n; i++)
            for (int j = skipBos ? 1 : 0; j <= i; j++)
                if (IsTarget(ids, i, j)) target[i * n + j] = has[i] = true;
        return new Mask(target, has);
    }
}
