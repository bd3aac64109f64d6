using HeadMiner.Tasks.Sets;

namespace HeadMiner.Analysis.Detectors;

/// <summary>
/// What the IOI detectors read per head on the IOI set (clean prompts, <see cref="MoverHeadStats"/>): the mean direct
/// logit attribution of the head's output at END to logit[IO] − logit[S] and the mean attention from END to the IO
/// and S2 tokens. Name movers have positive DLA and attend to IO; negative name movers have negative DLA and attend to IO.
/// </summary>
public sealed record IoiHeadStats(TaskPrompts Set, double[] Dla, double[] AttentionIo, double[] AttentionS, double[][] DlaPerPrompt, double[][] AttentionIoPerPrompt)
{
    public static readonly TaskSetGenerator Generator = new IoiSet();

    public static IoiHeadStats Compute(DetectorContext context, string detectorId, IProgress<double>? progress = null, CancellationToken cancel = default, int? count = null)
    {
        var stats = MoverHeadStats.Compute(context, Generator, detectorId, ["IO", "S2"], count, progress, cancel);
        return new IoiHeadStats(stats.Set, stats.Dla, stats.Attention["IO"], stats.Attention["S2"], stats.DlaPerPrompt, stats.AttentionPerPrompt["IO"]);
    }

    /// <summary>Bootstrap units for a score of sign × mean DLA × mean attention END→IO.</summary>
    public ScoreSamples Samples(double sign) => ScoreSamples.ProductOfMeans("prompts",
        [.. DlaPerPrompt.Select(row => row.Select(v => sign * v).ToArray())], AttentionIoPerPrompt, grows: true);

    public string Summary(int k) => $"DLA {Dla[k]:+0.000;-0.000} (IO − S logit units); attention END→IO {AttentionIo[k]:0.000}, END→S2 {AttentionS[k]:0.000}";
}
