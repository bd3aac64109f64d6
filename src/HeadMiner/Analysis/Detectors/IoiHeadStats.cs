using HeadMiner.Analysis.Attribution;
using HeadMiner.Tasks.Sets;

namespace HeadMiner.Analysis.Detectors;

/// <summary>
/// What the IOI detectors read per head on the IOI set (clean prompts): the mean direct logit attribution of the
/// head's output at END to logit[IO] − logit[S] (final LayerNorm scale from the real run, so in logit-diff units), and
/// the mean attention from END to the IO and S2 tokens. Name movers have positive DLA and attend to IO; negative
/// name movers have negative DLA and attend to IO.
/// </summary>
public sealed record IoiHeadStats(TaskPrompts Set, double[] Dla, double[] AttentionIo, double[] AttentionS, double[][] DlaPerPrompt, double[][] AttentionIoPerPrompt)
{
    public static readonly TaskSetGenerator Generator = new IoiSet();

    public static IoiHeadStats Compute(DetectorContext context, string detectorId, IProgress<double>? progress = null, CancellationToken cancel = default, int? count = null)
    {
        var set = TaskPrompts.Build(context, Generator, count ?? context.Options.Prompts, detectorId);
        int L = context.Config.Layers, H = context.Config.Heads, n = set.Count;
        var dla = new double[L * H];
        var dlaPer = new double[n][];
        var ioPer = new double[n][];
        for (int p = 0; p < n; p++) (dlaPer[p], ioPer[p]) = (new double[L * H], new double[L * H]);
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
        var io = new double[L * H];
        var s = new double[L * H];
        for (int p = 0; p < n; p++)
        {
            int ioPos = set.Prompts[p].Position("IO"), sPos = set.Prompts[p].Position("S2");
            for (int k = 0; k < L * H; k++)
            {
                io[k] += rows[p][k][0][ioPos] / n;
                ioPer[p][k] = rows[p][k][0][ioPos];
                s[k] += rows[p][k][0][sPos] / n;
            }
        }
        return new IoiHeadStats(set, dla, io, s, dlaPer, ioPer);
    }

    /// <summary>Bootstrap units for a score of sign × mean DLA × mean attention END→IO.</summary>
    public ScoreSamples Samples(double sign) => ScoreSamples.ProductOfMeans("prompts",
        [.. DlaPerPrompt.Select(row => row.Select(v => sign * v).ToArray())], AttentionIoPerPrompt, grows: true);

    public string Summary(int k) => $"DLA {Dla[k]:+0.000;-0.000} (IO − S logit units); attention END→IO {AttentionIo[k]:0.000}, END→S2 {AttentionS[k]:0.000}";
}
