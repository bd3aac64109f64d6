using HeadMiner.Analysis.Attribution;
using HeadMiner.Tasks.Sets;

namespace HeadMiner.Analysis.Detectors;

/// <summary>
/// What the mover detectors (name movers, letter movers) read per head on a task set's clean prompts: the mean direct
/// logit attribution of the head's output at END to logit[answer] − logit[wrong] (final LayerNorm scale from the real
/// run, so in logit-difference units) and the mean attention from END to named positions of the prompt. A mover head
/// attends to the token that holds the answer and its output raises the answer.
/// </summary>
public sealed record MoverHeadStats(TaskPrompts Set, double[] Dla, double[][] DlaPerPrompt,
    IReadOnlyDictionary<string, double[]> Attention, IReadOnlyDictionary<string, double[][]> AttentionPerPrompt)
{
    public static MoverHeadStats Compute(DetectorContext context, TaskSetGenerator generator, string detectorId, IReadOnlyList<string> positions,
        int? count = null, IProgress<double>? progress = null, CancellationToken cancel = default)
    {
        var set = TaskPrompts.Build(context, generator, count ?? context.Options.Prompts, detectorId);
        int L = context.Config.Layers, H = context.Config.Heads, n = set.Count;
        var dla = new double[L * H];
        var dlaPer = new double[n][];
        for (int p = 0; p < n; p++) dlaPer[p] = new double[L * H];
        foreach (var group in set.LengthGroups())
        {
            cancel.ThrowIfCancellationRequested();
            var result = DirectLogitAttribution.Compute(context.Model, set.Batch(group),
                [.. group.Select(i => set.Prompts[i].Answer)], [.. group.Select(i => set.Prompts[i].Wrong)]);
            for (int b = 0; b < group.Length; b++)
            {
                var prompt = result.Prompts[b];
                for (int l = 0; l < L; l++)
                    for (int h = 0; h < H; h++)
                    {
                        dla[l * H + h] += prompt.Heads[l][h] / n;
                        dlaPer[group[b]][l * H + h] = prompt.Heads[l][h];
                    }
            }
        }
        var rows = set.AttentionRows(context, p => [p.Position("END")], progress, cancel);
        var attention = new Dictionary<string, double[]>();
        var attentionPer = new Dictionary<string, double[][]>();
        foreach (string name in positions)
        {
            var mean = new double[L * H];
            var per = new double[n][];
            for (int p = 0; p < n; p++)
            {
                int at = set.Prompts[p].Position(name);
                per[p] = new double[L * H];
                for (int k = 0; k < L * H; k++)
                {
                    per[p][k] = rows[p][k][0][at];
                    mean[k] += per[p][k] / n;
                }
            }
            attention[name] = mean;
            attentionPer[name] = per;
        }
        return new MoverHeadStats(set, dla, dlaPer, attention, attentionPer);
    }

    /// <summary>Bootstrap units for a score of sign × mean DLA × mean attention END→<paramref name="position"/>.</summary>
    public ScoreSamples Samples(double sign, string position) => ScoreSamples.ProductOfMeans("prompts",
        [.. DlaPerPrompt.Select(row => row.Select(v => sign * v).ToArray())], AttentionPerPrompt[position], grows: true);
}
