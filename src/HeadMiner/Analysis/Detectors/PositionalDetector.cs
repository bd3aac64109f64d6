using HeadMiner.Analysis.Calibration;
using HeadMiner.Tensors;

namespace HeadMiner.Analysis.Detectors;

/// <summary>
/// Positional (local-window) heads: attention spread over the last few tokens by position alone, whatever the tokens.
/// On random ordinary-token prompts (no repeats, so content offers nothing to follow), for each query row i whose
/// window of W keys i−W+1..i holds no BOS, with Ā_i the mean row over prompts:
/// stability S_i = 1 − mean over prompts of the total-variation distance ½Σ_j|A_p[i,j] − Ā_i[j]| (1: the row is
/// the same whatever the tokens), window mass m_i = Σ_{δ&lt;W} Ā_i[i−δ], and spread E_i = entropy of the window's
/// share per offset / ln W (1: even over the window, 0: one offset). Score = mean_i S_i·m_i·E_i.
/// The spread factor is deliberate: single-offset positional heads are what <see cref="PreviousTokenDetector"/>
/// (offset 1) and <see cref="AttentionSinkDetector"/> (position 0) report, so this detector labels the heads that
/// average a local window (and a head attending evenly to a long context scores low, its window mass being small).
/// </summary>
public sealed class PositionalDetector : ICausalDetector
{
    public string Id => "positional";

    public string Description =>
        "spreads attention over the last W tokens by position, not content; score = mean over queries of stability × window mass × window spread on random tokens";

    public DetectorKind Kind => DetectorKind.AttentionPattern;

    /// <summary>
    /// Next-token loss on the sample text where the tokenizer can encode it (local-window heads serve ordinary
    /// prediction; Voita et al. 2019 found positional heads among the last to prune); none otherwise.
    /// </summary>
    public CausalTask? CausalTask(DetectorContext context) => CannotRun(context) is null ? NextTokenLoss.SampleTextTask(context) : null;

    public string? CannotRun(DetectorContext context) => context.CannotRunForward();

    public DetectorResult Run(DetectorContext context, IProgress<double>? progress = null, CancellationToken cancel = default)
    {
        if (CannotRun(context) is { } reason) throw new HeadMinerException($"{Id}: {reason}");
        var o = context.Options;
        o.Validate();
        var c = context.Config;
        int L = c.Layers, H = c.Heads, W = o.PositionalWindow;
        bool bos = DetectorPrompts.Bos(context) is not null;
        int length = 2 * o.SegmentLength, P = o.Prompts;
        var prompts = DetectorPrompts.Random(context, P, length, o.Seed);
        int T = prompts[0].Length, firstRow = (bos ? 1 : 0) + W - 1;
        if (firstRow >= T) throw new HeadMinerException($"{Id}: prompts of {T} tokens are too short for a window of {W}");
        // Every prompt's pattern per head is kept: stability compares each prompt's rows with the mean over prompts.
        var patterns = new float[L * H][][];
        for (int k = 0; k < L * H; k++) patterns[k] = new float[P][];
        PatternScan.Run(context, prompts, (layer, p, pattern) =>
        {
            var a = pattern.Contiguous();
            for (int h = 0; h < H; h++) patterns[layer * H + h][p] = a.Select(0, h).ToArray();
        }, progress, cancel);

        var scores = Tensor.Zeros(L, H);
        var evidence = new List<HeadEvidence>();
        var mean = new double[T];
        for (int l = 0; l < L; l++)
            for (int h = 0; h < H; h++)
            {
                var rows = patterns[l * H + h];
                double total = 0, stabilitySum = 0, massSum = 0, spreadSum = 0;
                var byOffset = new double[W];
                for (int i = firstRow; i < T; i++)
                {
                    Array.Clear(mean);
                    foreach (var a in rows)
                        for (int j = 0; j <= i; j++) mean[j] += a[i * T + j] / P;
                    double tv = 0;
                    foreach (var a in rows)
                    {
                        double d = 0;
                        for (int j = 0; j <= i; j++) d += Math.Abs(a[i * T + j] - mean[j]);
                        tv += d / 2;
                    }
                    double stability = Math.Max(0, 1 - tv / P);
                    double mass = 0;
                    for (int delta = 0; delta < W; delta++) mass += mean[i - delta];
                    double entropy = 0;
                    for (int delta = 0; delta < W; delta++)
                    {
                        byOffset[delta] += mean[i - delta];
                        double q = mass > 0 ? mean[i - delta] / mass : 0;
                        if (q > 0) entropy -= q * Math.Log(q);
                    }
                    double spread = entropy / Math.Log(W);
                    total += stability * mass * spread;
                    stabilitySum += stability;
                    massSum += mass;
                    spreadSum += spread;
                }
                int n = T - firstRow;
                float score = (float)(total / n);
                scores[l, h] = score;
                string offsets = string.Join(", ", byOffset.Select(v => (v / n).ToString("0.000")));
                evidence.Add(new HeadEvidence(l, h,
                    $"stability {stabilitySum / n:0.000}, window mass {massSum / n:0.000}, spread {spreadSum / n:0.000}; mean attention at offsets 0..{W - 1}: {offsets}",
                    PatternEvidence.Top(context, 0, prompts[0], Tensor.Wrap(rows[0], T, T), bos, i => i >= firstRow)));
            }
        // The score is not a sum over prompts (stability compares each prompt with the mean row), so a bootstrap
        // resample recomputes it from the kept patterns with the prompts reweighted.
        var samples = new ScoreSamples("prompts", P, GrowsWithPrompts: true, w =>
        {
            var rescored = new double[L * H];
            var m = new double[T];
            for (int k = 0; k < L * H; k++) rescored[k] = Weighted(patterns[k], w, T, firstRow, W, m);
            return rescored;
        })
        {
            // Each resample recomputes every head from its patterns (O(prompts · T²)): 200 resamples keep the interval
            // to seconds on GPT-2 small; the 2.5th percentile is then the 5th-lowest of 200.
            MaxResamples = 200,
        };
        return new DetectorResult
        {
            DetectorId = Id,
            Scores = scores,
            Samples = samples,
            Threshold = 0.5f,
            ThresholdReason = $"e.g. stable, ≥ 0.7 of the attention in the window and spread over at least two offsets; an even window scores 1, a head attending evenly to ~{T / 2} keys ~{W}/{T / 2}; {NullDistribution.ThresholdNote(Id, 0.5)}",
            Evidence = evidence,
            Processing = context.Model.Processing,
            Notes =
            [
                $"{P} prompts of {(bos ? "BOS + " : "")}{length} random distinct ordinary tokens (seed {o.Seed}); window W = {W} (offsets 0..{W - 1}, the current token included)",
                $"query rows {firstRow}..{T - 1}: the window never reaches {(bos ? "BOS" : "before the first token")}",
                DetectorPrompts.PoolNote(context),
                "single-offset heads score 0 here by design: previous_token and attention_sink report those",
            ],
        };
    }

    /// <summary>The score of one head with prompt p counted w[p] times (all ones: the detector's score).</summary>
    private static double Weighted(float[][] rows, double[] w, int T, int firstRow, int W, double[] mean)
    {
        double weight = 0;
        foreach (double x in w) weight += x;
        double total = 0;
        for (int i = firstRow; i < T; i++)
        {
            Array.Clear(mean);
            for (int p = 0; p < rows.Length; p++)
                if (w[p] != 0)
                    for (int j = 0; j <= i; j++) mean[j] += w[p] * rows[p][i * T + j] / weight;
            double tv = 0;
            for (int p = 0; p < rows.Length; p++)
            {
                if (w[p] == 0) continue;
                double d = 0;
                for (int j = 0; j <= i; j++) d += Math.Abs(rows[p][i * T + j] - mean[j]);
                tv += w[p] * d / 2;
            }
            double stability = Math.Max(0, 1 - tv / weight);
            double mass = 0;
            for (int delta = 0; delta < W; delta++) mass += mean[i - delta];
            double entropy = 0;
            for (int delta = 0; delta < W; delta++)
            {
                double q = mass > 0 ? mean[i - delta] / mass : 0;
                if (q > 0) entropy -= q * Math.Log(q);
            }
            total += stability * mass * entropy / Math.Log(W);
        }
        return total / (T - firstRow);
    }
}
