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
        var rows = prompts.Select((ids, p) => Enumerable.Range(0, ids.Length).Select(i => Enumerable.Range(first, Math.Max(0, i - first)).Any(j => masks[p][i * ids.Length + j])).ToArray()).ToArray();
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
        double baseline = uniformAll > 0 ? uniformOn / uniformAll : 0;
        var onTarget = new double[L * H];
        var total = new double[L * H];
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
                if (p == 0) examples[layer * H + h] = pattern.Select(0, h).Clone();
            }
        }, progress, cancel);

        var scores = Tensor.Zeros(L, H);
        var evidence = new List<HeadEvidence>();
        for (int l = 0; l < L; l++)
            for (int h = 0; h < H; h++)
            {
                int k = l * H + h;
                float score = total[k] > 0 ? (float)(onTarget[k] / total[k]) : 0f;
                scores[l, h] = score;
                evidence.Add(new HeadEvidence(l, h, $"{score:0.000} of its attention to earlier keys on targets (uniform: {baseline:0.000})",
                    TargetExamples(context, prompts[0], examples[k], masks[0], rows[0], first)));
            }
        var (threshold, why) = Threshold(baseline);
        return new DetectorResult
        {
            DetectorId = Id,
            Scores = scores,
            Threshold = threshold,
            ThresholdReason = why,
            Evidence = evidence,
            Processing = context.Model.Processing,
            Baseline = baseline,
            Notes =
            [
                $"{prompts.Length} built-in English passages ({prompts.Sum(p => p.Length)} tokens){(first == 1 ? ", BOS first" : "")}",
                TargetNote,
                "keys counted: earlier positions only, " + (first == 1 ? "BOS and " : "") + "the query itself left out; baseline = the score of even attention over them",
            ],
        };
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
