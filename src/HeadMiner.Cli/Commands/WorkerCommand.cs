using System.CommandLine;
using HeadMiner.Cluster;
using Microsoft.Extensions.Hosting;

namespace HeadMiner.Cli.Commands;

/// <summary>
/// `headminer worker --cluster CONFIG`: one Orleans silo that works on the cluster's atlas, patching and attribution units with its
/// own copy of each model (docs/SCALING.md). Runs until SIGINT / SIGTERM; a worker that stops (or dies) loses no work:
/// its unit goes back to the queue when its lease lapses.
/// </summary>
public static class WorkerCommand
{
    public static Command Create()
    {
        var cluster = ClusterOptions.Config(required: true);
        var siloPort = new Option<int?>("--silo-port") { Description = "This silo's port (default: the config's; on one machine each worker needs its own)" };
        var gatewayPort = new Option<int?>("--gateway-port") { Description = "This silo's gateway port for clients (default: the config's)" };
        var command = new Command("worker", "Run a cluster worker (an Orleans silo) for `atlas --cluster`, `patch --cluster` and `attrib-patch --cluster`.") { cluster, siloPort, gatewayPort };
        command.SetAction((parse, cancel) =>
        {
            var config = ClusterOptions.Load(parse.GetValue(cluster)!);
            var stderr = parse.InvocationConfiguration.Error;
            return RunAsync(config, parse.GetValue(siloPort), parse.GetValue(gatewayPort), parse.InvocationConfiguration.Output, stderr, cancel);
        });
        return command;
    }

    private static async Task<int> RunAsync(ClusterConfig config, int? siloPort, int? gatewayPort, TextWriter stdout, TextWriter stderr, CancellationToken stop)
    {
        var gate = new object();
        void Log(string line)
        {
            lock (gate) stderr.WriteLine(line);
        }
        using var models = new ModelHost(ModelOptions.Resolve) { Name = $"{Environment.MachineName}:{Environment.ProcessId}" };
        using var host = ClusterHosting.BuildWorker(config, models, Log, siloPort, gatewayPort);
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(stop))
        {
            timeout.CancelAfter(TimeSpan.FromSeconds(config.ConnectTimeoutSeconds * 2));
            try
            {
                await host.StartAsync(timeout.Token);
            }
            catch (Exception e) when (!stop.IsCancellationRequested)
            {
                throw new HeadMinerException($"{config.Source}: the worker could not join the cluster ({ClusterHosting.Where(config)}): " +
                    (e is OperationCanceledException ? $"no answer within {config.ConnectTimeoutSeconds * 2:0.#} s" : $"{e.GetType().Name}: {e.Message}"), e);
            }
        }
        stdout.WriteLine($"worker {Environment.MachineName}:{Environment.ProcessId} joined the cluster ({ClusterHosting.Where(config)}); waiting for units (Ctrl+C to stop)");
        stdout.Flush();
        try
        {
            await Task.Delay(Timeout.Infinite, stop);
        }
        catch (OperationCanceledException)
        {
        }
        await host.StopAsync(TimeSpan.FromSeconds(10));
        throw new CommandStoppedException("worker stopped; its unfinished unit (if any) goes back to the queue");
    }
}
