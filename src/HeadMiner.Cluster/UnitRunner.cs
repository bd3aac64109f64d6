using HeadMiner.Analysis.Atlas;
using HeadMiner.Analysis.Patching;
using HeadMiner.Models;
using HeadMiner.Tasks;

namespace HeadMiner.Cluster;

/// <summary>
/// What a run's units are and how one is done, for each kind of run: an atlas splits into detector groups
/// (<see cref="AtlasUnits"/>), a patching sweep into layers (<see cref="ActivationPatching.SweepLayers"/>); both are
/// the granularity at which the split run reproduces the whole run bit for bit.
/// </summary>
public static class UnitRunner
{
    public sealed record PlannedUnit(string Payload, string Description);

    public static IReadOnlyList<PlannedUnit> Plan(RunSpec run, LoadedModel loaded) => run.Kind switch
    {
        "atlas" => [.. AtlasUnits.Plan(loaded.Model, loaded.Tokenizer, AtlasOptions(run, loaded))
            .Select(u => new PlannedUnit(JobJson.Write(u.DetectorIds), $"atlas unit {u.Index}: {string.Join(", ", u.DetectorIds)}"))],
        "patch" => [.. ActivationPatching.UnitLayers(loaded.Model.Config).Select(l => new PlannedUnit(JobJson.Write(new[] { l }), $"patch layer {l}"))],
        _ => throw new HeadMinerException($"run {run.RunId}: unknown kind \"{run.Kind}\" (atlas or patch)"),
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
            default:
                throw new HeadMinerException($"run {run.RunId}: unknown kind \"{run.Kind}\" (atlas or patch)");
        }
    }

    /// <summary>The atlas options a run's workers use: the job's settings fitted to the model (as the command does).</summary>
    public static AtlasOptions AtlasOptions(RunSpec run, LoadedModel loaded) =>
        JobJson.Read<AtlasJob>(run.Job, $"run {run.RunId}: atlas job").Options().ForModel(loaded);

    public static IReadOnlyList<AtlasDetectorOutcome> AtlasOutcomes(IEnumerable<string> results) =>
        [.. results.SelectMany(r => AtlasDetectorOutcome.FromJson(r, "atlas unit result"))];

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
