using HeadMiner.Hooks;
using HeadMiner.Models;
using HeadMiner.Tasks;
using HeadMiner.Tasks.Sets;

namespace HeadMiner.Analysis.Detectors;

/// <summary>
/// Greater-Than heads (Hanna et al. 2023): at END ("…from the year 1732 to the year 17") they raise the years after
/// YY over YY and the years before it. Score = direct logit attribution of the head's output at END (final LayerNorm
/// scale from the real run) onto mean W_U[years &gt; YY] − mean W_U[years ≤ YY], mean over prompts, in logits.
/// </summary>
public sealed class GreaterThanDetector : ICausalDetector
{
    private static readonly TaskSetGenerator Generator = new GreaterThanSet();

    public string Id => "greater_than";

    public string Description =>
        "Greater-Than: at END, raises the years after YY over the years up to YY; score = mean DLA onto mean W_U[> YY] − mean W_U[≤ YY] (logits)";

    public DetectorKind Kind => DetectorKind.Task;

    public string? CannotRun(DetectorContext context) => TaskPrompts.CannotRun(context, Generator);

    public DetectorResult Run(DetectorContext context, IProgress<double>? progress = null, CancellationToken cancel = default)
    {
        var set = TaskPrompts.Build(context, Generator, context.Options.Prompts, Id);
        var model = context.Model;
        int L = context.Config.Layers, H = context.Config.Heads, d = context.Config.DModel, n = set.Count;
        // The unembedding columns of the years, widened once each (the whole W_U would be vocab × d_model floats).
        var columns = new Dictionary<int, float[]>();
        float[] Column(int token) => columns.TryGetValue(token, out var c) ? c : columns[token] = model.Weights.W_U.Select(1, token).ToArray();
        int v = context.Config.VocabSize;
        var scores = new double[L * H];
        var perPrompt = new double[n][];
        double cleanDiff = 0;
        int done = 0;
        foreach (var group in set.LengthGroups())
        {
            cancel.ThrowIfCancellationRequested();
            int last = set.Prompts[group[0]].Clean.Length - 1;
            var filter = CacheFilter.Where(h => h.Site is ActivationSite.Z or ActivationSite.LnFinalScale or ActivationSite.Ln1PostScale) with { Positions = [last] }; // ln1_post: post-norm models' head terms
            var (run, cache) = model.RunWithCache(set.Batch(group), filter);
            var logits = run.Logits!.Select(1, last).Contiguous().Span; // [B, V]
            var scaled = cache.ApplyLnFinal(cache.StackHeadResults().Stack).Contiguous().Span; // [L·H, B, 1, d]
            for (int b = 0; b < group.Length; b++)
            {
                var p = set.Prompts[group[b]];
                var direction = new float[d];
                for (int k = 0; k < d; k++)
                {
                    double up = 0, down = 0;
                    foreach (int a in p.AnswerSet!) up += Column(a)[k];
                    foreach (int w in p.WrongSet!) down += Column(w)[k];
                    direction[k] = (float)(up / p.AnswerSet!.Length - down / p.WrongSet!.Length);
                }
                perPrompt[group[b]] = new double[L * H];
                for (int c = 0; c < L * H; c++)
                {
                    double effect = System.Numerics.Tensors.TensorPrimitives.Dot(scaled.Slice((c * group.Length + b) * d, d), direction);
                    scores[c] += effect / n;
                    perPrompt[group[b]][c] = effect;
                }
                cleanDiff += Metric.ProbMassDiff(logits.Slice(b * v, v), p.AnswerSet!, p.WrongSet!) / n;
            }
            done += group.Length;
            progress?.Report((double)done / n);
        }
        return TaskResult.Create(Id, context, scores,
            (0.1f, "0.1 logit between the mean later-year and mean earlier-year logits from one head's direct path; random heads scatter around 0"),
            k => $"direct effect {scores[k]:+0.000;-0.000} logits on mean(years > YY) − mean(years ≤ YY) at END",
            [
                $"{n} Greater-Than prompts ({set.Description})",
                "DLA: the head's output at END through the final LayerNorm (scale cached from the run) onto the mean unembedding of the later years minus that of YY and the earlier years",
                $"model's clean prob diff p(> YY) − p(≤ YY) at END: {cleanDiff:0.0000}",
            ], baseline: 0, samples: ScoreSamples.Mean("prompts", perPrompt, grows: true));
    }

    /// <summary>p(years &gt; YY) − p(years ≤ YY) at END, mean over the prompts (the Greater-Than paper's metric).</summary>
    public CausalTask? CausalTask(DetectorContext context)
    {
        if (CannotRun(context) is not null) return null;
        var set = TaskPrompts.Build(context, Generator, context.Options.Prompts, Id);
        return new CausalTask($"p(years > YY) − p(years ≤ YY) at END ({set.Count} Greater-Than prompts)", HigherIsBetter: true,
            hooks => set.MeanAtLast(hooks, (p, row) => Metric.ProbMassDiff(row, set.Prompts[p].AnswerSet!, set.Prompts[p].WrongSet!)));
    }
}
