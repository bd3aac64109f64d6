using HeadMiner.Hooks;
using HeadMiner.Models;

namespace HeadMiner.Explorer;

/// <summary>
/// Runs model computations off the request threads, at most N at once, each under a cancellation token (the
/// request's deadline linked with the client's disconnect). Forward passes get a hook at every layer that checks
/// the token, so a cancelled request stops within one layer instead of running to the end.
/// </summary>
public sealed class ComputeGate(int maxConcurrent) : IDisposable
{
    private readonly SemaphoreSlim _slots = new(maxConcurrent, maxConcurrent);

    public async Task<T> RunAsync<T>(Func<CancellationToken, T> work, CancellationToken cancellation)
    {
        await _slots.WaitAsync(cancellation);
        try
        {
            cancellation.ThrowIfCancellationRequested();
            // A dedicated thread, not a thread-pool one: a computation holds its thread for its whole length, and on a
            // 2-core machine two of them would starve the pool that runs the deadline timers and the other requests.
            return await Task.Factory.StartNew(() => work(cancellation), cancellation, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        }
        finally
        {
            _slots.Release();
        }
    }

    /// <summary>Hooks that throw <see cref="OperationCanceledException"/> at the start of each layer once cancelled.</summary>
    public static HookSet CancellationHooks(ModelConfig config, CancellationToken cancellation)
    {
        var hooks = new HookSet(config);
        hooks.Add(h => h.Site == ActivationSite.ResidPre, (_, _) => cancellation.ThrowIfCancellationRequested());
        return hooks;
    }

    public void Dispose() => _slots.Dispose();
}
