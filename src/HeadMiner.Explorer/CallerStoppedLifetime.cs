using Microsoft.Extensions.Hosting;

namespace HeadMiner.Explorer;

/// <summary>
/// The host lifetime of the explorer: started and stopped only by its owner. The default (ConsoleLifetime) hooks
/// SIGINT and SIGTERM itself and would begin a second shutdown, with its own timeout, beside the one the CLI runs
/// through <see cref="ExplorerServer.StopAsync"/> with --timeout.
/// </summary>
internal sealed class CallerStoppedLifetime : IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
