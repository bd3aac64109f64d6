using System.Text.RegularExpressions;

namespace HeadMiner.Tests.Cluster;

/// <summary>
/// A real cluster: three `headminer worker` processes on loopback (Orleans development clustering), an atlas and a
/// patching sweep submitted by `--cluster` from a fourth process, one worker killed (SIGKILL) while it runs a unit,
/// then attribution patching (prompt shards) on the two workers left.
/// The outputs must be the single-process outputs byte for byte (atlas.json apart from its clock: created_utc and
/// the measured seconds), and the dead worker's unit must have been re-run elsewhere.
/// </summary>
public partial class ClusterProcessTests
{
    private static readonly string Model = Path.Combine(TestPaths.RepoRoot, "models", "embedded");

    [Fact]
    public void ThreeWorkersOneKilledMidRunWriteTheSingleProcessAtlasAndSweepByteForByte()
    {
        using var temp = new TempDir();
        int[] ports = LoopbackPorts.Free(6);
        int primary = ports[0];
        int[] silos = ports[..3], gateways = ports[3..];
        string config = Path.Combine(temp.Path, "cluster.json");
        File.WriteAllText(config, $$"""
            { "clustering": "localhost", "primary_silo_port": {{primary}}, "gateway_ports": [{{string.Join(", ", gateways)}}],
              "lease_seconds": 3, "connect_timeout_seconds": 60, "probe_timeout_seconds": 1, "hold_results_seconds": 4 }
            """);
        string[] atlasArgs = ["atlas", "-m", Model, "--prompts", "16", "--max-prompts", "32", "--causal-draws", "7"];
        string pairs = TestPaths.Fixture("embedded", "repeated-segments.json");
        string[] patchArgs = ["patch", "-m", Model, "--pairs", pairs, "--target", "z:pos"];

        var workers = new List<CliProcess>();
        try
        {
            for (int i = 0; i < 3; i++)
                workers.Add(CliProcess.Start(temp.Path, "worker", "--cluster", config, "--silo-port", $"{silos[i]}", "--gateway-port", $"{gateways[i]}"));
            // The single-process reference runs while the silos start.
            string local = Path.Combine(temp.Path, "local");
            Assert.Equal(0, CliRunner.Run([.. atlasArgs, "-o", Path.Combine(local, "atlas")]).Code);
            Assert.Equal(0, CliRunner.Run([.. patchArgs, "-o", Path.Combine(local, "patch")]).Code);
            foreach (var w in workers) w.WaitForLine(l => l.Contains("joined the cluster", StringComparison.Ordinal));

            string cluster = Path.Combine(temp.Path, "cluster");
            using (var client = CliProcess.Start(temp.Path, [.. atlasArgs, "-o", Path.Combine(cluster, "atlas"), "--cluster", config]))
            {
                int coordinator = int.Parse(CoordinatorPort().Match(client.WaitForLine(l => CoordinatorPort().IsMatch(l))).Groups[1].Value);
                // Not the primary silo (development clustering keeps the membership there) nor the coordinator's.
                int victim = Array.FindIndex(silos, p => p != primary && p != coordinator);
                // Every worker holds a finished unit 4 s before handing it back (hold_results_seconds), so the kill
                // lands while the victim holds a leased unit however fast the unit itself ran.
                client.WaitForLine(l => l.StartsWith($"worker S127.0.0.1:{silos[victim]}:", StringComparison.Ordinal) && l.Contains(", running ", StringComparison.Ordinal));
                workers[victim].Signal(9);
                Assert.Equal(0, client.WaitForExit());
                // The victim's unit is re-run elsewhere by one of two routes: its lease lapses on the coordinator, or,
                // when the victim also held the coordinator's directory entry and the coordinator came back empty, the
                // client resubmits the run with what it had journaled and the unit is planned again.
                string clientErr = client.Stderr;
                Assert.True(clientErr.Contains("re-queued: their worker stopped renewing its lease", StringComparison.Ordinal)
                    || clientErr.Contains("the coordinator lost the run", StringComparison.Ordinal), clientErr);
            }
            Assert.Equal(Unclocked(File.ReadAllText(Path.Combine(local, "atlas", "atlas.json"))), Unclocked(File.ReadAllText(Path.Combine(cluster, "atlas", "atlas.json"))));
            foreach (string file in new[] { "atlas_scores.csv", "atlas_scores.safetensors" })
                Assert.Equal(File.ReadAllBytes(Path.Combine(local, "atlas", file)), File.ReadAllBytes(Path.Combine(cluster, "atlas", file)));
            // The journal is gone once the output is written.
            Assert.False(Directory.Exists(Path.Combine(cluster, "atlas", ".headminer-cluster")));

            // The sweep on the two workers left.
            var (code, _, err) = CliRunner.Run([.. patchArgs, "-o", Path.Combine(cluster, "patch"), "--cluster", config]);
            Assert.True(code == 0, err);
            foreach (string file in new[] { "patching.json", "patching.csv", "patching.safetensors", "patching.html" })
                Assert.Equal(File.ReadAllBytes(Path.Combine(local, "patch", file)), File.ReadAllBytes(Path.Combine(cluster, "patch", file)));

            // Attribution patching with edges on the same two workers: 12 pairs in shards of 5, 5 and 2, each a unit.
            string[] attribArgs = ["attrib-patch", "-m", Model, "--pairs", pairs, "--edges", "--metric", "kl", "--shard-pairs", "5"];
            (code, _, err) = CliRunner.Run([.. attribArgs, "-o", Path.Combine(cluster, "attrib"), "--cluster", config]);
            Assert.True(code == 0, err);
            Assert.Contains("3 units", err);
            Assert.Equal(0, CliRunner.Run([.. attribArgs, "-o", Path.Combine(local, "attrib")]).Code);
            foreach (string file in new[] { "attrib_patching.json", "attrib_patching.csv", "attrib_edges.csv" })
                Assert.Equal(File.ReadAllBytes(Path.Combine(local, "attrib", file)), File.ReadAllBytes(Path.Combine(cluster, "attrib", file)));
            Assert.False(Directory.Exists(Path.Combine(cluster, "attrib", ".headminer-cluster")));
        }
        finally
        {
            foreach (var w in workers) w.Dispose();
        }
    }

    [Fact]
    public void AnUnreachableClusterIsOneErrorWithinTheTimeoutNotAHang()
    {
        using var temp = new TempDir();
        int[] ports = LoopbackPorts.Free(2);
        string config = Path.Combine(temp.Path, "cluster.json");
        File.WriteAllText(config, $$"""{ "clustering": "localhost", "primary_silo_port": {{ports[0]}}, "gateway_ports": [{{ports[1]}}], "connect_timeout_seconds": 2 }""");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var (code, _, err) = CliRunner.Run("atlas", "-m", Model, "-d", "attention_sink", "-o", Path.Combine(temp.Path, "out"), "--cluster", config);
        Assert.Equal(1, code);
        // The model's BOS note, then one error line; no stack trace.
        string[] lines = err.Trim().Split('\n');
        Assert.StartsWith($"error: {config}: cannot reach the cluster (localhost gateways {ports[1]}) within 2 s", lines[^1]);
        Assert.Single(lines, l => l.StartsWith("error:", StringComparison.Ordinal));
        Assert.DoesNotContain("   at ", err);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"took {clock.Elapsed}");
    }

    [Theory]
    [InlineData("""{ "clustering": "zookeeper" }""", "\"clustering\" is \"zookeeper\"; it must be one of localhost, redis, adonet")]
    [InlineData("""{ "clustering": "redis" }""", "\"clustering\": \"redis\" needs \"connection_string\"")]
    [InlineData("""{ "clustering": "localhost", "gateway_ports": [70000] }""", "\"gateway_ports\"[0] must be a port number from 1 to 65535, not 70000")]
    [InlineData("""{ "clustering": "localhost", "lease_secs": 3 }""", "unknown key \"lease_secs\"")]
    [InlineData("""{ "clustering": "localhost", """, "not valid JSON")]
    public void ABadConfigIsOneErrorNamingTheFileAndKey(string text, string expected)
    {
        using var temp = new TempDir();
        string config = Path.Combine(temp.Path, "bad.json");
        File.WriteAllText(config, text);
        var (code, _, err) = CliRunner.Run("worker", "--cluster", config);
        Assert.Equal(1, code);
        Assert.StartsWith($"error: {config}: ", err);
        Assert.Contains(expected, err);
        Assert.Single(err.Trim().Split('\n'));
    }

    /// <summary>atlas.json without its clock: created_utc, every measured duration and every phase's peak memory.</summary>
    private static string Unclocked(string json) => PeakRss().Replace(Seconds().Replace(Created().Replace(json, "\"created_utc\": \"\""), "\"seconds\": 0"), "\"peak_rss_mib\": 0");

    [GeneratedRegex(@"coordinator on S127\.0\.0\.1:(\d+):")]
    private static partial Regex CoordinatorPort();

    [GeneratedRegex("\"created_utc\": \"[^\"]*\"")]
    private static partial Regex Created();

    [GeneratedRegex("\"seconds\": [0-9.eE+-]+")]
    private static partial Regex Seconds();

    [GeneratedRegex("\"peak_rss_mib\": [0-9.eE+-]+")]
    private static partial Regex PeakRss();

    private sealed class TempDir : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("headminer-cluster-").FullName;

        public void Dispose()
        {
            try
            {
                Directory.Delete(Path, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
