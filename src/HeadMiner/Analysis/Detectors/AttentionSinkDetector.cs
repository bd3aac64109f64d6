using HeadMiner.Analysis.Calibration;
using HeadMiner.Tensors;

namespace HeadMiner.Analysis.Detectors;

/// <summary>
/// Attention-sink heads: most of the attention rests on the first token (BOS when the model uses one), which acts as
/// a "no-op" key when nothing in the context is relevant. Score = mean A[i, 0] over query rows i ≥ 1 (row 0 can
/// only attend to itself) on random ordinary-token prompts.
/// </summary>
public sealed class AttentionSinkDetector : IHeadDetector
{
    public string Id => "attention_sink";

    public string Description => "rests its attention on the first token (BOS); score = mean attention to position 0 from positions ≥ 1 on random tokens";

    public DetectorKind Kind => DetectorKind.AttentionPattern;

    public string? CannotRun(DetectorContext context) => context.CannotRunForward();

    public DetectorResult Run(DetectorContext context, IProgress<double>? progress = null, CancellationToken cancel = default)
    {
        if (CannotRun(context) is { } reason) throw new HeadMinerException($"{Id}: {reason}");
        context.Options.Validate();
        var c = context.Config;
        int L = c.Layers, H = c.Heads;
        bool bos = DetectorPrompts.Bos(context) is not null;
        int length = 2 * context.Options.SegmentLength;
        var prompts = DetectorPrompts.Random(context, context.Options.Prompts, length, context.Options.Seed);
        int T = prompts[0].Length;
        var sums = new double[L * H];
        var perPrompt = prompts.Select(_ => new double[L * H]).ToArray();
        var examples = new Tensor[L * H];
        PatternScan.Run(context, prompts, (layer, p, pattern) =>
        {
            var a = pattern.Contiguous().Span;
            for (int h = 0; h < H; h++)
            {
                double s = 0;
                for (int i = 1; i < T; i++) s += a[(h * T + i) * T];
                sums[layer * H + h] += s;
                perPrompt[p][layer * H + h] = s / (T - 1);
                if (p == 0) examples[layer * H + h] = pattern.Select(0, h).Clone();
            }
        }, progress, cancel);

        var scores = Tensor.Zeros(L, H);
        var evidence = new List<HeadEvidence>();
        for (int l = 0; l < L; l++)
            for (int h = 0; h < H; h++)
            {
                float score = (float)(sums[l * H + h] / ((T - 1) * prompts.Length));
                scores[l, h] = score;
                var example = examples[l * H + h];
                var rows = Enumerable.Range(1, T - 1).OrderByDescending(i => example[i, 0]).ThenBy(i => i).Take(context.Options.Examples);
                evidence.Add(new HeadEvidence(l, h, $"{score:0.000} of its attention on position 0 on average",
                    [.. rows.Select(i => new AttentionExample(0, i, DetectorPrompts.TokenText(context, prompts[0][i]), 0, DetectorPrompts.TokenText(context, prompts[0][0]), example[i, 0]))]));
            }
        return new DetectorResult
        {
            DetectorId = Id,
            Scores = scores,
            Threshold = 0.5f,
            ThresholdReason = $"more than half of the attention on one key of up to ~50; a head attending uniformly scores the reported baseline (≈ ln T / T); {NullDistribution.ThresholdNote(Id, 0.5)}",
            Evidence = evidence,
            Processing = context.Model.Processing,
            Baseline = UniformBaseline(T),
            Samples = ScoreSamples.Mean("prompts", perPrompt, grows: true),
            Notes =
            [
                $"{prompts.Length} prompts of {(bos ? "BOS + " : "")}{length} random distinct ordinary tokens (seed {context.Options.Seed})",
                DetectorPrompts.PoolNote(context),
                bos ? "position 0 is BOS" : "the model uses no BOS: position 0 is an ordinary random token",
                "baseline: the score of a head attending uniformly to every earlier position",
            ],
        };
    }

    /// <summary>Mean over rows i = 1..T−1 of 1/(i+1).</summary>
    private static double UniformBaseline(int T)
    {
        double s = 0;
        for (int i = 1; i < T; i++) s += 1.0 / (i + 1);
        return s / (T - 1);
    }
}
