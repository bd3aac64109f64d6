using System.Text.RegularExpressions;

namespace HeadMiner.Tests.Cluster;

/// <summary>
/// A coordinator that loses everything it held: the only worker — and with it the coordinator's silo and the whole
/// cluster's membership — is killed (SIGKILL) after the client has journaled some units, and a fresh cluster takes its
/// place on the client's other gateway. The still-running client finds that the new coordinator does not know the
/// run, submits it again with the units in its journal, and only the others are run; the output is the
/// single-process output byte for byte.
/// </summary>
public partial class ClusterRestartTests
{
    private static readonly string Model = Path.Combine(TestPaths.RepoRoot, "models", "embedded");

    [Fact]
    public void ARestartedCoordinatorResumesFromTheClientsJournalAndRunsOnlyTheRest()
    {
        string temp = Directory.CreateTempSubdirectory("headminer-cluster-restart-").FullName;
        var processes = new List<CliProcess>();
        try
        {
            int[] ports = LoopbackPorts.Free(4);
            int siloA = ports[0], siloB = ports[1];
            int[] gateways = ports[2..];
            // Two single-silo clusters, one after the other, with the same ids; the client knows both gateways.
            string Config(string name, int primary)
            {
                string path = Path.Combine(temp, name);
                File.WriteAllText(path, $$"""
                    { "clustering": "localhost", "primary_silo_port": {{primary}}, "gateway_ports": [{{gateways[0]}}, {{gateways[1]}}],
                      "lease_seconds": 10, "connect_timeout_seconds": 30, "probe_timeout_seconds": 1, "hold_results_seconds": 2 }
                    """);
                return path;
            }
            string configA = Config("a.json", siloA), configB = Config("b.json", siloB);
            string pairs = TestPaths.Fixture("embedded", "repeated-segments.json");
            // 12 pairs in shards of 2: six units, each held 2 s by its one worker (hold_results_seconds), so the kill
            // leaves some to do unless the test is starved for 10 s; a 10 s lease never lapses under load, so the new
            // worker runs each unit once.
            string[] attribArgs = ["attrib-patch", "-m", Model, "--pairs", pairs, "--shard-pairs", "2"];
            const int units = 6;

            var workerA = CliProcess.Start(temp, "worker", "--cluster", configA, "--silo-port", $"{siloA}", "--gateway-port", $"{gateways[0]}");
            processes.Add(workerA);
            string local = Path.Combine(temp, "local"), cluster = Path.Combine(temp, "cluster");
            Assert.Equal(0, CliRunner.Run([.. attribArgs, "-o", local]).Code);
            workerA.WaitForLine(l => l.Contains("joined the cluster", StringComparison.Ordinal));

            var client = CliProcess.Start(temp, [.. attribArgs, "-o", cluster, "--cluster", configA]);
            processes.Add(client);
            client.WaitForLine(l => l.Contains($"{units} units, coordinator on S127.0.0.1:{siloA}:", StringComparison.Ordinal));
            string journalRoot = Path.Combine(cluster, ".headminer-cluster");
            var clock = System.Diagnostics.Stopwatch.StartNew();
            while (Journaled(journalRoot) == 0)
            {
                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(120), $"no unit journaled in 120 s; client stderr:\n{client.Stderr}");
                Thread.Sleep(50);
            }
            workerA.Signal(9);
            Assert.Equal(137, workerA.WaitForExit());

            var workerB = CliProcess.Start(temp, "worker", "--cluster", configB, "--silo-port", $"{siloB}", "--gateway-port", $"{gateways[1]}");
            processes.Add(workerB);
            string resubmitted = client.WaitForLine(l => l.Contains("the coordinator lost the run", StringComparison.Ordinal));
            int journaled = int.Parse(Resubmitted().Match(resubmitted).Groups[1].Value);
            Assert.InRange(journaled, 1, units - 1);
            Assert.Equal(0, client.WaitForExit());

            foreach (string file in new[] { "attrib_patching.json", "attrib_patching.csv" })
                Assert.Equal(File.ReadAllBytes(Path.Combine(local, file)), File.ReadAllBytes(Path.Combine(cluster, file)));
            Assert.False(Directory.Exists(journalRoot));
            // The new cluster ran exactly the units that were not journaled, each once.
            workerB.Signal(CliProcess.SIGTERM);
            workerB.WaitForExit();
            var doneByB = UnitDone().Matches(workerB.Stderr).Select(m => int.Parse(m.Groups[1].Value)).ToList();
            Assert.Equal(units - journaled, doneByB.Count);
            Assert.Equal(doneByB.Count, doneByB.Distinct().Count());
        }
        finally
        {
            foreach (var p in processes) p.Dispose();
            try
            {
                Directory.Delete(temp, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private static int Journaled(string journalRoot) =>
        Directory.Exists(journalRoot) ? Directory.GetFiles(journalRoot, "unit-*.json", SearchOption.AllDirectories).Length : 0;

    [GeneratedRegex(@"resubmitting with (\d+) units done")]
    private static partial Regex Resubmitted();

    [GeneratedRegex(@": done attribution shard (\d+):")]
    private static partial Regex UnitDone();
}
