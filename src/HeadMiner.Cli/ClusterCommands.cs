using HeadMiner.Cluster;
using HeadMiner.Models;

namespace HeadMiner.Cli;

/// <summary>What `atlas --cluster`, `patch --cluster` and `attrib-patch --cluster` share: the run's description every worker receives.</summary>
public static class ClusterCommands
{
    /// <summary>
    /// The run: the model as the user named it — a path made absolute (workers may start elsewhere), a hub id as is
    /// (each worker resolves it in its own cache), the embedded default by its path — and this side's file fingerprint.
    /// </summary>
    public static RunSpec Spec(string kind, string? modelArgument, LoadedModel loaded, bool process, bool weightsOnly, bool allowUnused, string job, ClusterConfig config)
    {
        string model = modelArgument is null ? Path.GetFullPath(loaded.Path)
            : File.Exists(modelArgument) || Directory.Exists(modelArgument) ? Path.GetFullPath(modelArgument)
            : modelArgument;
        string fingerprint = ModelFingerprint.Of(loaded.Path);
        return new RunSpec
        {
            RunId = ClusterRun.RunId(kind, model, process, weightsOnly, allowUnused, fingerprint, job),
            Kind = kind,
            Model = model,
            Process = process,
            WeightsOnly = weightsOnly,
            AllowUnused = allowUnused,
            Fingerprint = fingerprint,
            Job = job,
            LeaseSeconds = config.LeaseSeconds,
        };
    }
}
