using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using HeadMiner.Tensors;
using Microsoft.Extensions.DependencyInjection;
using Orleans;

namespace HeadMiner.Cluster;

/// <summary>
/// The client's side of a run: submit it to the coordinator, collect results as they arrive and journal each one
/// (atomically, under <c>&lt;out&gt;/.headminer-cluster/&lt;run id&gt;/</c>), print each worker's progress, and
/// return every unit's result in unit order once all are in. The run id is a hash of the run's settings and model
/// fingerprint, so the same command run again resumes from the journal (a stopped client, or a coordinator that lost
/// its state); the journal is removed by <see cref="Finish"/> once the output is written.
/// </summary>
public static class ClusterRun
{
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(250);

    public static string RunId(string kind, string model, bool process, bool weightsOnly, bool allowUnused, string fingerprint, string job)
    {
        var bytes = SHA256.HashData(Encoding.UTF8.GetBytes(string.Join('\0', kind, model, process, weightsOnly, allowUnused, fingerprint, job)));
        return $"{kind}-{Convert.ToHexStringLower(bytes)[..16]}";
    }

    public static string JournalDirectory(string outputDirectory, string runId) => Path.Combine(outputDirectory, ".headminer-cluster", runId);

    public static async Task<IReadOnlyList<string>> Execute(ClusterConfig config, RunSpec run, string outputDirectory, Action<string> progress, CancellationToken cancel)
    {
        string journal = JournalDirectory(outputDirectory, run.RunId);
        Directory.CreateDirectory(journal);
        var results = new SortedDictionary<int, string>();
        foreach (string file in Directory.GetFiles(journal, "unit-*.json"))
            if (int.TryParse(Path.GetFileNameWithoutExtension(file)["unit-".Length..], out int unit)) results[unit] = File.ReadAllText(file);
        if (results.Count > 0) progress($"cluster: resuming {run.RunId} with {results.Count} units already done ({journal})");

        using var host = await ClusterHosting.ConnectClient(config, cancel);
        var coordinator = host.Services.GetRequiredService<IClusterClient>().GetGrain<ICoordinatorGrain>(CoordinatorGrain.Key);
        var status = await Call(config, () => coordinator.Submit(run, [.. results.Keys]), "submit the run", cancel);
        if (status.Failure is not null) throw new HeadMinerException(status.Failure);
        progress($"cluster: {run.Kind} {run.RunId}: {status.Units} units, coordinator on {status.Silo}");
        var lastLine = new Dictionary<string, string>();
        var sinceWorker = Stopwatch.StartNew();
        int requeued = 0;
        while (true)
        {
            cancel.ThrowIfCancellationRequested();
            status = await Call(config, () => coordinator.Status(run.RunId, [.. results.Keys]), "ask for the run's status", cancel);
            if (!status.Known)
            {
                // A fresh coordinator (its silo died): hand it the run again with what is journaled.
                progress($"cluster: the coordinator lost the run (now on {status.Silo}); resubmitting with {results.Count} units done");
                status = await Call(config, () => coordinator.Submit(run, [.. results.Keys]), "resubmit the run", cancel);
            }
            if (status.Failure is not null) throw new HeadMinerException(status.Failure);
            foreach (var result in status.NewResults)
            {
                if (results.ContainsKey(result.Unit)) continue;
                AtomicFile.WriteAllText(Path.Combine(journal, $"unit-{result.Unit}.json"), result.Result);
                results[result.Unit] = result.Result;
            }
            if (status.Requeued > requeued)
            {
                progress($"cluster: {status.Requeued - requeued} unit(s) re-queued: their worker stopped renewing its lease");
                requeued = status.Requeued;
            }
            foreach (var w in status.Workers)
            {
                bool alive = w.SecondsSinceSeen < Math.Max(5, run.LeaseSeconds);
                string line = $"{w.UnitsDone} units done" + (alive ? (w.Running is null ? ", idle" : $", running {w.Running}") : ", not seen (gone?)");
                if (lastLine.TryGetValue(w.Worker, out string? before) && before == line) continue;
                lastLine[w.Worker] = line;
                progress($"worker {w.Worker}: {line}");
            }
            if (status.Workers.Any(w => w.SecondsSinceSeen < config.NoWorkerTimeoutSeconds)) sinceWorker.Restart();
            else if (sinceWorker.Elapsed.TotalSeconds > config.NoWorkerTimeoutSeconds)
                throw new HeadMinerException($"{config.Source}: no worker asked for work in {config.NoWorkerTimeoutSeconds:0.#} s ({results.Count} of {status.Units} units done, journaled in {journal}); start workers with `headminer worker --cluster CONFIG`");
            if (results.Count >= status.Units && status.Units > 0) break;
            await Task.Delay(Poll, cancel);
        }
        try
        {
            await coordinator.Forget(run.RunId);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Only memory on the coordinator: nothing is lost if it cannot be told.
        }
        await host.StopAsync(CancellationToken.None);
        return [.. results.Values];
    }

    /// <summary>Removes the run's journal once its output is written.</summary>
    public static void Finish(string outputDirectory, string runId)
    {
        string journal = JournalDirectory(outputDirectory, runId);
        if (Directory.Exists(journal)) Directory.Delete(journal, recursive: true);
        string parent = Path.Combine(outputDirectory, ".headminer-cluster");
        if (Directory.Exists(parent) && !Directory.EnumerateFileSystemEntries(parent).Any()) Directory.Delete(parent);
    }

    /// <summary>A call to the coordinator, retried while the cluster recovers (a silo died, the coordinator moves), up to the config's timeout.</summary>
    private static async Task<T> Call<T>(ClusterConfig config, Func<Task<T>> call, string what, CancellationToken cancel)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                return await call().WaitAsync(TimeSpan.FromSeconds(config.ConnectTimeoutSeconds), cancel);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancel.IsCancellationRequested)
            {
                if (clock.Elapsed.TotalSeconds > 3 * config.ConnectTimeoutSeconds)
                    throw new HeadMinerException($"{config.Source}: cannot {what} on the cluster ({ClusterHosting.Where(config)}): {e.GetType().Name}: {e.Message}", e);
                await Task.Delay(TimeSpan.FromMilliseconds(500), cancel);
            }
        }
    }
}
