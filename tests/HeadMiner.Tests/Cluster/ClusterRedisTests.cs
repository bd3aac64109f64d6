using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace HeadMiner.Tests.Cluster;

/// <summary>
/// The membership a real deployment uses: Orleans' Redis clustering against a real redis-server (Debian's, installed
/// by .ci/run), started here on a free loopback port with nothing persisted. One worker starts, the client submits an
/// attribution run of six units, a second worker joins mid-run and takes units, and the output is the single-process
/// output byte for byte. The client finds the gateways through Redis alone (no gateway list in the config).
/// </summary>
public partial class ClusterRedisTests
{
    private static readonly string Model = Path.Combine(TestPaths.RepoRoot, "models", "embedded");

    [Fact]
    public void RedisMembershipAndAWorkerThatJoinsMidRunGiveTheSingleProcessOutput()
    {
        string temp = Directory.CreateTempSubdirectory("headminer-cluster-redis-").FullName;
        var processes = new List<CliProcess>();
        Process? redis = null;
        try
        {
            int[] ports = LoopbackPorts.Free(5);
            redis = Process.Start(new ProcessStartInfo("redis-server", ["--port", $"{ports[0]}", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            }) ?? throw new InvalidOperationException("redis-server did not start");
            redis.BeginOutputReadLine(); // drained, so a full pipe never blocks it
            redis.BeginErrorReadLine();
            WaitForPort(ports[0], redis);
            string config = Path.Combine(temp, "cluster.json");
            File.WriteAllText(config, $$"""
                { "clustering": "redis", "connection_string": "127.0.0.1:{{ports[0]}}", "cluster_id": "test-{{ports[0]}}",
                  "lease_seconds": 10, "connect_timeout_seconds": 60, "probe_timeout_seconds": 1, "hold_results_seconds": 4 }
                """);
            string pairs = TestPaths.Fixture("embedded", "repeated-segments.json");
            string[] attribArgs = ["attrib-patch", "-m", Model, "--pairs", pairs, "--shard-pairs", "2"];
            const int units = 6;

            CliProcess Worker(int silo, int gateway)
            {
                var w = CliProcess.Start(temp, "worker", "--cluster", config, "--silo-port", $"{silo}", "--gateway-port", $"{gateway}");
                processes.Add(w);
                return w;
            }
            var first = Worker(ports[1], ports[2]);
            string local = Path.Combine(temp, "local"), cluster = Path.Combine(temp, "cluster");
            Assert.Equal(0, CliRunner.Run([.. attribArgs, "-o", local]).Code);
            first.WaitForLine(l => l.Contains("joined the cluster", StringComparison.Ordinal));

            var client = CliProcess.Start(temp, [.. attribArgs, "-o", cluster, "--cluster", config]);
            processes.Add(client);
            // The silos advertise the machine's address (not loopback, as development clustering does).
            client.WaitForLine(l => l.Contains($"{units} units, coordinator on S", StringComparison.Ordinal) && l.Contains($":{ports[1]}:", StringComparison.Ordinal));
            // Each unit is held 4 s by its worker, so six take ≥ 24 s on one worker: the second joins well before the end.
            var second = Worker(ports[3], ports[4]);
            Assert.Equal(0, client.WaitForExit());

            foreach (string file in new[] { "attrib_patching.json", "attrib_patching.csv" })
                Assert.Equal(File.ReadAllBytes(Path.Combine(local, file)), File.ReadAllBytes(Path.Combine(cluster, file)));
            foreach (var w in new[] { first, second })
            {
                w.Signal(CliProcess.SIGTERM);
                w.WaitForExit();
            }
            int byFirst = UnitDone().Matches(first.Stderr).Count, bySecond = UnitDone().Matches(second.Stderr).Count;
            Assert.True(bySecond >= 1, $"the worker that joined mid-run did no unit ({byFirst} by the first); its stderr:\n{second.Stderr}");
            Assert.Equal(units, byFirst + bySecond);
        }
        finally
        {
            foreach (var p in processes) p.Dispose();
            if (redis is { HasExited: false })
            {
                redis.Kill();
                redis.WaitForExit();
            }
            redis?.Dispose();
            try
            {
                Directory.Delete(temp, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private static void WaitForPort(int port, Process server)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(30))
        {
            if (server.HasExited) throw new InvalidOperationException($"redis-server exited ({server.ExitCode}) before listening on {port}");
            try
            {
                using var probe = new TcpClient();
                probe.Connect(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException)
            {
                Thread.Sleep(100);
            }
        }
        throw new TimeoutException($"redis-server did not listen on {port} within 30 s");
    }

    [GeneratedRegex(@": done attribution shard (\d+):")]
    private static partial Regex UnitDone();
}
