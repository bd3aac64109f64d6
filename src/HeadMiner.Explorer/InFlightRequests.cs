namespace HeadMiner.Explorer;

/// <summary>
/// Counts the requests being handled, so that a shutdown can say how many it let finish and how many it cut off
/// (<see cref="ExplorerServer.StopAsync"/>).
/// </summary>
public sealed class InFlightRequests
{
    private int _count;

    public int Count => Volatile.Read(ref _count);

    /// <summary>Counts one request for as long as the returned object is not disposed.</summary>
    public IDisposable Enter()
    {
        Interlocked.Increment(ref _count);
        return new Exit(this);
    }

    private sealed class Exit(InFlightRequests owner) : IDisposable
    {
        private int _done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0) Interlocked.Decrement(ref owner._count);
        }
    }
}
