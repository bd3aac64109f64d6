using System.CommandLine;
using HeadMiner.Cluster;

namespace HeadMiner.Cli;

/// <summary>`--cluster CONFIG`: run a command's units on an Orleans cluster (docs/SCALING.md) instead of in this process.</summary>
public static class ClusterOptions
{
    public static Option<string?> Config(bool required = false) => new("--cluster")
    {
        Description = "Cluster config (JSON: clustering localhost | redis | adonet; docs/SCALING.md): run the work on the cluster's workers; the output is the same bytes as a local run",
        Required = required,
    };

    public static ClusterConfig Load(string path) => ClusterConfig.Load(path);

    /// <summary>Per-worker progress lines on stderr, one per change.</summary>
    public static Action<string> Progress(TextWriter stderr)
    {
        var gate = new object();
        return line =>
        {
            lock (gate) stderr.WriteLine(line);
        };
    }
}
