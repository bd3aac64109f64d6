using HeadMiner.Analysis.Calibration;
using HeadMiner.Tensors;

namespace HeadMiner.Analysis.Detectors;

/// <summary>
/// Shared machinery of the detectors that run real text (<see cref="SampleText"/>, needs the tokenizer): a 0/1
/// target over earlier keys per query row, and per head score = Σ A on targets / Σ A on every earlier key, summed over
/// the rows that have a target, where "earlier" leaves out the query itself and the first column when it is BOS
/// (so resting on BOS or on oneself counts neither way). The baseline is the same ratio for a head attending evenly
/// to the earlier keys.
/// </summary>
public abstract class TextPatternDetector : ICausalDetector
{
    public abstract string Id { get; }
    public abstract string Description { get; }
    public DetectorKind Kind => DetectorKind.AttentionPattern;

    /// <summary>Target mask [T·T] (query-major; only j &lt; i is read) for one tokenized passage; <paramref name="first"/> is the first non-BOS position.</summary>
    protected abstract bool[] Targets(DetectorContext context, int[] ids, int first);

    /// <summary>The label threshold and its reason, given the run's uniform-attention baseline.</summary>
    protected abstract (float Value, string Reason) Threshold(double baseline);

    protected abstract string TargetNote { get; }

    /// <summary>
    /// An optional control mask (same layout as <see cref="Targets"/>): when given, the score is the target share
    /// minus the share on the control keys over the control rows — what the head does anyway, whatever the
    /// function (a previous-token head attends to i−1 inside a word and across words alike, so it scores ~0).
    /// </summary>
    protected virtual bool[]? Controls(DetectorContext context, int[] ids, int first) => null;

    protected virtual string? ControlNote => null;

    /// <summary>The threshold as a multiple of the baseline when it is defined as one (its null is then read in baseline units), else null.</summary>
    protected virtual double? BaselineMultiple(double baseline, float threshold) => null;

    /// <summary>
    /// Next-token loss on the sample text (<see cref="NextTokenLoss.SampleTextTask"/>): heads that merge a word's
    /// pieces or track rare words serve predicting ordinary text (Voita et al. 2019 prune such heads by their effect
    /// on translation quality; this is the language-model analogue).
    /// </summary>
    public CausalTask? CausalTask(DetectorContext context) => CannotRun(context) is null ? NextTokenLoss.SampleTextTask(context) : null;

    public virtual string? CannotRun(DetectorContext context)
    {
        if (context.CannotRunForward() is { } forward) return forward;
        if (context.Tokenizer is null) return "needs the model's tokenizer to read real text (none was loaded)";
        try
        {
            TextPrompts.Tokenize(context);
        }
        catch (HeadMinerException e)
        {
            // A vocabulary of made-up words (the embedded toy model) cannot spell English text.
            return $"the tokenizer cannot encode the English sample text: {e.Message}";
        }
        return null;
    }

    public DetectorResult Run(DetectorContext context, IProgress<double>? progress = null, CancellationToken cancel = default)
    {
        if (CannotRun(context) is { } reason) throw new HeadMinerException($"{Id}: {reason}");
        context.Options.Validate();
        var c = context.Config;
        int L = c.Layers, H = c.Heads;
        var prompts = TextPrompts.Tokenize(context);
        int first = DetectorPrompts.Bos(context) is null ? 0 : 1;
        var masks = prompts.Select(ids => Targets(context, ids, first)).ToArray();
        var rows = RowsWithTargets(prompts, masks, first);
        var controls = prompts.Select(ids => Controls(context, ids, first)).ToArray();
        bool controlled = controls.Any(m => m is not null);
        var controlMasks = controls.Select((m, p) => m ?? new bool[prompts[p].Length * prompts[p].Length]).ToArray();
        var controlRows = RowsWithTargets(prompts, controlMasks, first);
        double baseline = UniformShare(prompts, masks, rows, first) - (controlled ? UniformShare(prompts, controlMasks, controlRows, first) : 0);
        var onTarget = new double[L * H];
        var total = new double[L * H];
        var promptOn = prompts.Select(_ => new double[L * H]).ToArray();
        var promptAll = prompts.Select(_ => new double[L * H]).ToArray();
        var controlOn = prompts.Select(_ => new double[L * H]).ToArray();
        var controlAll = prompts.Select(_ => new double[L * H]).ToArray();
        var examples = new Tensor[L * H];
        PatternScan.Run(context, prompts, (layer, p, pattern) =>
        {
            var a = pattern.Contiguous().Span;
            int T = prompts[p].Length;
            for (int h = 0; h < H; h++)
            {
                double on = 0, all = 0;
                for (int i = 0; i < T; i++)
                {
                    if (!rows[p][i]) continue;
                    int row = (h * T + i) * T;
                    for (int j = first; j < i; j++)
                    {
                        all += a[row + j];
                        if (masks[p][i * T + j]) on += a[row + j];
                    }
                }
                onTarget[layer * H + h] += on;
                total[layer * H + h] += all;
                promptOn[p][layer * H + h] = on;
                promptAll[p][layer * H + h] = all;
                if (p == 0) examples[layer * H + h] = pattern.Select(0, h).Clone();
                if (!controlled) continue;
                double cOn = 0, cAll = 0;
                for (int i = 0; i < T; i++)
                {
                    if (!controlRows[p][i]) continue;
                    int row = (h * T + i) * T;
                    for (int j = first; j < i; j++)
                    {
                        cAll += a[row + j];
                        if (controlMasks[p][i * T + j]) cOn += a[row + j];
                    }
                }
                controlOn[p][layer * H + h] = cOn;
                controlAll[p][layer * H + h] = cAll;
            }
        }, progress, cancel);

        var scores = Tensor.Zeros(L, H);
        var evidence = new List<HeadEvidence>();
        for (int l = 0; l < L; l++)
            for (int h = 0; h < H; h++)
            {
                int k = l * H + h;
                double share = total[k] > 0 ? onTarget[k] / total[k] : 0;
                double control = controlled ? Share(controlOn, controlAll, k) : 0;
                float score = (float)(share - control);
                scores[l, h] = score;
                evidence.Add(new HeadEvidence(l, h, (controlled
                        ? $"{share:0.000} of its attention to earlier keys on targets, {control:0.000} on the control keys: score {score:0.000}"
                        : $"{score:0.000} of its attention to earlier keys on targets") + $" (uniform: {baseline:0.000})",
                    TargetExamples(context, prompts[0], examples[k], masks[0], rows[0], first)));
            }
        var (threshold, why) = Threshold(baseline);
        return new DetectorResult
        {
            DetectorId = Id,
            Scores = scores,
            Threshold = threshold,
            ThresholdReason = $"{why}; {NullDistribution.ThresholdNote(Id, threshold, BaselineMultiple(baseline, threshold))}",
            Evidence = evidence,
            Processing = context.Model.Processing,
            Baseline = baseline,
            Samples = controlled
                ? new ScoreSamples("passages", prompts.Length, false, w =>
                {
                    var target = ScoreSamples.Ratio("passages", promptOn, promptAll, false).Rescore(w);
                    var control = ScoreSamples.Ratio("passages", controlOn, controlAll, false).Rescore(w);
                    return [.. target.Select((t, k) => t - control[k])];
                })
                : ScoreSamples.Ratio("passages", promptOn, promptAll, grows: false),
            Notes =
            [
                $"{prompts.Length} built-in English passages ({prompts.Sum(p => p.Length)} tokens){(first == 1 ? ", BOS first" : "")}",
                TargetNote,
                .. (ControlNote is { } note ? new[] { note } : []),
                "keys counted: earlier positions only, " + (first == 1 ? "BOS and " : "") + "the query itself left out; baseline = the score of even attention over them",
            ],
        };
    }

    private static double Share(double[][] on, double[][] all, int k)
    {
        double a = 0, b = 0;
        for (int p = 0; p < on.Length; p++) (a, b) = (a + on[p][k], b + all[p][k]);
        return b > 0 ? a / b : 0;
    }

    private static bool[][] RowsWithTargets(int[][] prompts, bool[][] masks, int first) =>
        [.. prompts.Select((ids, p) => Enumerable.Range(0, ids.Length).Select(i => Enumerable.Range(first, Math.Max(0, i - first)).Any(j => masks[p][i * ids.Length + j])).ToArray())];

    /// <summary>The share a head attending evenly to the earlier keys puts on the masked keys, over the rows that have some.</summary>
    private static double UniformShare(int[][] prompts, bool[][] masks, bool[][] rows, int first)
    {
        double uniformOn = 0, uniformAll = 0;
        for (int p = 0; p < prompts.Length; p++)
        {
            int T = prompts[p].Length;
            for (int i = 0; i < T; i++)
                if (rows[p][i])
                {
                    int keys = i - first, on = 0;
                    for (int j = first; j < i; j++) if (masks[p][i * T + j]) on++;
                    uniformOn += (double)on / keys;
                    uniformAll += 1;
                }
        }
        return uniformAll > 0 ? uniformOn / uniformAll : 0;
    }

    /// <summary>For each row with a target, its strongest target key; the strongest rows first.</summary>
    private static IReadOnlyList<AttentionExample> TargetExamples(DetectorContext context, int[] ids, Tensor pattern, bool[] mask, bool[] rows, int first)
    {
        int T = ids.Length;
        var list = new List<AttentionExample>();
        for (int i = 0; i < T; i++)
        {
            if (!rows[i]) continue;
            int arg = -1;
            for (int j = first; j < i; j++)
                if (mask[i * T + j] && (arg < 0 || pattern[i, j] > pattern[i, arg])) arg = j;
            list.Add(new AttentionExample(0, i, DetectorPrompts.TokenText(context, ids[i]), arg, DetectorPrompts.TokenText(context, ids[arg]), pattern[i, arg]));
        }
        return [.. list.OrderByDescending(e => e.Weight).ThenBy(e => e.Query).Take(context.Options.Examples)];
    }
}
