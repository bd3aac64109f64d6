using HeadMiner.Analysis.Atlas;
using HeadMiner.Analysis.Attribution;
using HeadMiner.Analysis.Patching;
using HeadMiner.Models;
using HeadMiner.Tasks;

namespace HeadMiner.Cluster;

/// <summary>
/// What a run's units are and how one is done, for each kind of run: an atlas splits into detector groups
/// (<see cref="AtlasUnits"/>), a patching sweep into layers (<see cref="ActivationPatching.SweepLayers"/>), attribution
/// patching into prompt shards (<see cref="AttributionShards"/>); each is the granularity at which the split run
/// reproduces the whole run bit for bit.
/// </summary>
public static class UnitRunner
{
    public sealed record PlannedUnit(string Payload, string Description);

    public static IReadOnlyList<PlannedUnit> Plan(RunSpec run, LoadedModel loaded) => run.Kind switch
    {
        "atlas" => [.. AtlasUnits.Plan(loaded.Model, loaded.Tokenizer, AtlasOptions(run, loaded))
            .Select(u => new PlannedUnit(JobJson.Write(u.DetectorIds), $"atlas unit {u.Index}: {string.Join(", ", u.DetectorIds)}"))],
        "patch" => [.. ActivationPatching.UnitLayers(loaded.Model.Config).Select(l => new PlannedUnit(JobJson.Write(new[] { l }), $"patch layer {l}"))],
        "attrib" => [.. AttributionShards.Plan(AttribJobOf(run).Clean.Length, AttribJobOf(run).ShardPairs)
            .Select(s => new PlannedUnit(JobJson.Write(s), $"attribution shard {s.Index}: pairs {s.Start}-{s.Start + s.Count - 1}"))],
        _ => throw new HeadMinerException($"run {run.RunId}: unknown kind \"{run.Kind}\" (atlas, patch or attrib)"),
    };

    public static string Run(RunSpec run, string payload, LoadedModel loaded, CancellationToken cancel)
    {
        switch (run.Kind)
        {
            case "atlas":
                {
                    var ids = JobJson.Read<string[]>(payload, $"run {run.RunId}: unit");
                    var outcomes = AtlasRunner.RunDetectors(loaded.Model, loaded.Tokenizer, AtlasOptions(run, loaded), ids, null, cancel);
                    return AtlasDetectorOutcome.ToJson(outcomes);
                }
            case "patch":
                {
                    var layers = JobJson.Read<int[]>(payload, $"run {run.RunId}: unit");
                    var job = JobJson.Read<PatchJob>(run.Job, $"run {run.RunId}: patch job");
                    var (cells, raw) = ActivationPatching.SweepLayers(loaded.Model, job.Pairs(), PatchTarget.Parse(job.Target), Metric.Parse(job.Metric),
                        job.DirectionValue(), layers, cancel: cancel);
                    var bytes = new byte[raw.Length * sizeof(float)];
                    Buffer.BlockCopy(raw, 0, bytes, 0, bytes.Length);
                    return JobJson.Write(new PatchUnitResult { Cells = cells, Raw = Convert.ToBase64String(bytes) });
                }
            case "attrib":
                {
                    var shard = JobJson.Read<AttributionShard>(payload, $"run {run.RunId}: unit");
                    var job = AttribJobOf(run);
                    cancel.ThrowIfCancellationRequested();
                    var p = AttributionShards.Run(loaded.Model, job.Pairs(), Metric.Parse(job.Metric), shard, job.Edges);
                    return JobJson.Write(new AttribUnitResult
                    {
                        Shard = p.Shard,
                        Pairs = p.Pairs,
                        Metric = p.Metric,
                        WeightProcessing = p.WeightProcessing,
                        Sums = Bits([p.CleanMetricSum, p.CorruptedMetricSum]),
                        Heads = Bits(p.Heads),
                        Mlp = Bits(p.Mlp),
                        EdgeSenders = p.EdgeSenders,
                        EdgeReceivers = p.EdgeReceivers,
                        EdgeScores = p.EdgeScores is null ? null : Bits(p.EdgeScores),
                    });
                }
            default:
                throw new HeadMinerException($"run {run.RunId}: unknown kind \"{run.Kind}\" (atlas, patch or attrib)");
        }
    }

    /// <summary>The atlas options a run's workers use: the job's settings fitted to the model (as the command does).</summary>
    public static AtlasOptions AtlasOptions(RunSpec run, LoadedModel loaded) =>
        JobJson.Read<AtlasJob>(run.Job, $"run {run.RunId}: atlas job").Options().ForModel(loaded);

    public static IReadOnlyList<AtlasDetectorOutcome> AtlasOutcomes(IEnumerable<string> results) =>
        [.. results.SelectMany(r => AtlasDetectorOutcome.FromJson(r, "atlas unit result"))];

    private static AttribJob AttribJobOf(RunSpec run) => JobJson.Read<AttribJob>(run.Job, $"run {run.RunId}: attrib job");

    /// <summary>Attribution unit results → the partials <see cref="AttributionShards.Merge"/> adds up.</summary>
    public static IEnumerable<AttributionPartial> AttribPartials(IEnumerable<string> results)
    {
        foreach (string json in results)
        {
            var r = JobJson.Read<AttribUnitResult>(json, "attribution unit result");
            double[] sums = Doubles(r.Sums, "sums");
            if (sums.Length != 2) throw new HeadMinerException($"attribution unit result: {sums.Length} metric sums, expected 2");
            double[]? edges = r.EdgeScores is null ? null : Doubles(r.EdgeScores, "edge scores");
            if (edges is not null && (r.EdgeSenders?.Length != edges.Length || r.EdgeReceivers?.Length != edges.Length))
                throw new HeadMinerException($"attribution unit result: {edges.Length} edge scores but {r.EdgeSenders?.Length ?? 0} senders and {r.EdgeReceivers?.Length ?? 0} receivers");
            yield return new AttributionPartial(r.Shard, r.Pairs, r.Metric, r.WeightProcessing, sums[0], sums[1], Doubles(r.Heads, "heads"), Doubles(r.Mlp, "mlp"),
                edges is null ? null : r.EdgeSenders, edges is null ? null : r.EdgeReceivers, edges);
        }
    }

    private static string Bits(double[] values)
    {
        var bytes = new byte[values.Length * sizeof(double)];
        Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
        return Convert.ToBase64String(bytes);
    }

    private static double[] Doubles(string base64, string what)
    {
        byte[] bytes;
        try
        {
            bytes = Convert.FromBase64String(base64);
        }
        catch (FormatException e)
        {
            throw new HeadMinerException($"attribution unit result: {what} are not base64: {e.Message}", e);
        }
        if (bytes.Length % sizeof(double) != 0) throw new HeadMinerException($"attribution unit result: {what} are {bytes.Length} bytes, not whole doubles");
        var values = new double[bytes.Length / sizeof(double)];
        Buffer.BlockCopy(bytes, 0, values, 0, bytes.Length);
        return values;
    }

    public static IEnumerable<(int[] Cells, float[] Raw)> PatchParts(IEnumerable<string> results)
    {
        foreach (string json in results)
        {
            var part = JobJson.Read<PatchUnitResult>(json, "patch unit result");
            byte[] bytes;
            try
            {
                bytes = Convert.FromBase64String(part.Raw);
            }
            catch (FormatException e)
            {
                throw new HeadMinerException($"patch unit result: raw values are not base64: {e.Message}", e);
            }
            if (bytes.Length != part.Cells.Length * sizeof(float))
                throw new HeadMinerException($"patch unit result: {bytes.Length} bytes for {part.Cells.Length} cells");
            var raw = new float[part.Cells.Length];
            Buffer.BlockCopy(bytes, 0, raw, 0, bytes.Length);
            yield return (part.Cells, raw);
        }
    }
}
