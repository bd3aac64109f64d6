using Microsoft.Extensions.Hosting;
using Orleans;
using Orleans.Runtime;

namespace HeadMiner.Cluster;

/// <summary>
/// What each silo does: asks the coordinator for a unit, runs it on this silo's copy of the model
/// (<see cref="ModelHost"/>: loaded once, shared by every unit), renews the lease while it runs, and hands the result
/// back. One unit at a time: the model's kernels already use every core of the machine (<c>HEADMINER_THREADS</c>).
/// A unit that cannot be done here (a different model, a bad setting) fails its run with the message.
/// </summary>
public sealed class WorkerLoop(IGrainFactory grains, ModelHost models, ILocalSiloDetails silo, WorkerLog log, ClusterConfig config) : BackgroundService
{
    private static readonly TimeSpan Idle = TimeSpan.FromMilliseconds(200);

    public string Name => silo.SiloAddress.ToString();

    protected override async Task ExecuteAsync(CancellationToken stop)
    {
        var coordinator = grains.GetGrain<ICoordinatorGrain>(CoordinatorGrain.Key);
        while (!stop.IsCancellationRequested)
        {
            UnitLease? lease;
            try
            {
                lease = await coordinator.Lease(Name);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // The coordinator is moving (its silo died) or the cluster is still forming: ask again shortly.
                log.Write($"worker {Name}: coordinator unreachable ({e.GetType().Name}); retrying");
                await Delay(TimeSpan.FromSeconds(1), stop);
                continue;
            }
            if (lease is null)
            {
                await Delay(Idle, stop);
                continue;
            }
            await RunUnit(coordinator, lease, stop);
        }
    }

    private async Task RunUnit(ICoordinatorGrain coordinator, UnitLease lease, CancellationToken stop)
    {
        log.Write($"worker {Name}: {lease.Run.Kind} {lease.Run.RunId} {lease.Description}");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        double compute = 0;
        var work = Task.Run(async () =>
        {
            var model = models.Get(lease.Run); // loaded (and fingerprinted) on this silo's first unit of the model
            var computing = System.Diagnostics.Stopwatch.StartNew();
            string done = UnitRunner.Run(lease.Run, lease.Payload, model, stop);
            compute = computing.Elapsed.TotalSeconds;
            // Fault rehearsal: hold the finished unit (the lease is still renewed below), as over a slow link.
            if (config.HoldResultsSeconds > 0) await Task.Delay(TimeSpan.FromSeconds(config.HoldResultsSeconds), stop);
            return done;
        }, stop);
        var renewEvery = TimeSpan.FromSeconds(Math.Max(0.2, lease.LeaseSeconds / 4));
        while (!work.IsCompleted)
        {
            await Task.WhenAny(work, Task.Delay(renewEvery, stop)).ConfigureAwait(true);
            if (work.IsCompleted) break;
            try
            {
                await coordinator.Renew(Name, lease.Run.RunId, lease.Unit);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                log.Write($"worker {Name}: cannot renew the lease ({e.GetType().Name})");
            }
        }
        string result;
        try
        {
            result = await work;
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // The silo is stopping: the lease lapses and another worker takes the unit.
            return;
        }
        catch (Exception e)
        {
            // Rerunning elsewhere would fail the same way (same files, same settings): the run fails, with the reason.
            string message = e is HeadMinerException ? e.Message : $"internal error in {lease.Description}: {e.GetType().Name}: {e.Message}";
            log.Write($"worker {Name}: {lease.Description} failed: {message}");
            try
            {
                await coordinator.Fail(Name, lease.Run.RunId, lease.Unit, message);
            }
            catch (Exception again) when (again is not OperationCanceledException)
            {
                log.Write($"worker {Name}: cannot report the failure ({again.GetType().Name})");
            }
            return;
        }
        try
        {
            await coordinator.Complete(Name, lease.Run.RunId, lease.Unit, result);
            // The unit's own compute apart: `bench cluster` subtracts it to measure what coordination costs per unit.
            log.Write($"worker {Name}: done {lease.Description} in {clock.Elapsed.TotalSeconds:F3} s (compute {compute:F4} s)");
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The coordinator unreachable while handing back: the lease lapses and the unit is re-run.
            log.Write($"worker {Name}: {lease.Description} not handed back ({e.GetType().Name}: {e.Message})");
        }
    }

    private static async Task Delay(TimeSpan delay, CancellationToken stop)
    {
        try
        {
            await Task.Delay(delay, stop);
        }
        catch (OperationCanceledException)
        {
        }
    }
}

/// <summary>Where a worker's lines go (the `worker` command's stderr).</summary>
public sealed class WorkerLog(Action<string> write)
{
    public void Write(string line) => write(line);
}
