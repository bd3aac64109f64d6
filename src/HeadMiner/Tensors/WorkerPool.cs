using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace HeadMiner.Tensors;

/// <summary>One unit of parallel work: <see cref="Invoke"/> is called once for each index in [0, count).</summary>
public interface IParallelBody
{
    void Invoke(int index);
}

/// <summary>
/// The kernels' threads. Every multi-threaded kernel goes through here so that one setting
/// (<see cref="MaxThreads"/>, or the HEADMINER_THREADS environment variable) governs the whole process,
/// and a kernel called from inside a parallel region runs inline instead of oversubscribing the cores.
/// </summary>
/// <remarks>
/// Persistent background workers (created on first use, MaxThreads − 1 of them; the caller is the last thread)
/// hand out indices from one shared counter, so a parallel call allocates nothing and costs microseconds (about
/// 0.4 µs for an empty two-thread call when the worker is awake): the workers poll for about 100 µs after a job in
/// case another follows, then sleep on a semaphore. One parallel region runs at a time; a second thread that calls
/// <see cref="For(int, IParallelBody)"/> while the workers are busy runs its loop inline, which is correct and never
/// deadlocks. Bodies must not wait for one another: any index may run on any thread, or all on the caller. Once
/// every index is claimed the caller withdraws the jobs of workers that have not started (on a loaded machine a
/// posted worker may not be scheduled for milliseconds), so a call waits only for bodies that are actually running.
/// </remarks>
public static class WorkerPool
{
    [ThreadStatic] private static bool t_insideParallelRegion;

    private static int s_maxThreads = ReadThreadSetting();

    /// <summary>Threads a kernel may use (the calling thread included). At least 1.</summary>
    public static int MaxThreads
    {
        get => s_maxThreads;
        set => s_maxThreads = Math.Max(1, value);
    }

    /// <summary>Whether the current thread is running a body of a parallel region (so a nested call runs inline).</summary>
    public static bool InsideParallelRegion => t_insideParallelRegion;

    /// <summary>Runs body.Invoke(i) for every i in [0, count) on up to <see cref="MaxThreads"/> threads; returns when all are done.</summary>
    /// <remarks>The first exception a body throws is rethrown here (with its stack trace) after every thread has stopped.</remarks>
    public static void For(int count, IParallelBody body)
    {
        ArgumentNullException.ThrowIfNull(body);
        if (count <= 0) return;
        int threads = Math.Min(MaxThreads, count);
        if (threads == 1 || t_insideParallelRegion || !Monitor.TryEnter(s_regionLock))
        {
            RunInline(count, body);
            return;
        }
        try
        {
            RunOnWorkers(count, body, threads);
        }
        finally
        {
            Monitor.Exit(s_regionLock);
        }
    }

    /// <summary>Convenience overload for code off the hot path (allocates a closure).</summary>
    public static void For(int count, Action<int> body) => For(count, new ActionBody(body));

    private sealed class ActionBody(Action<int> action) : IParallelBody
    {
        public void Invoke(int index) => action(index);
    }

    private static void RunInline(int count, IParallelBody body)
    {
        bool outer = t_insideParallelRegion;
        t_insideParallelRegion = true;
        try
        {
            for (int i = 0; i < count; i++) body.Invoke(i);
        }
        finally
        {
            t_insideParallelRegion = outer;
        }
    }

    // ---- the shared job: written by the caller under s_regionLock before the workers are woken -------------------

    private static readonly object s_regionLock = new();
    private static readonly ManualResetEventSlim s_workersDone = new(false, spinCount: 0);
    private static Worker[] s_workers = [];
    private static IParallelBody? s_body;
    private static int s_count;
    private static int s_nextIndex;
    private static int s_busyWorkers;
    private static ExceptionDispatchInfo? s_firstError;

    private static void RunOnWorkers(int count, IParallelBody body, int threads)
    {
        EnsureWorkers(threads - 1);
        s_body = body;
        s_count = count;
        s_firstError = null;
        s_workersDone.Reset();
        Volatile.Write(ref s_nextIndex, 0);
        Volatile.Write(ref s_busyWorkers, threads - 1);
        for (int w = 0; w < threads - 1; w++) s_workers[w].Post();

        t_insideParallelRegion = true;
        try
        {
            RunShare();
        }
        finally
        {
            t_insideParallelRegion = false;
        }

        // Every index is claimed. A worker that has not started yet (descheduled on a busy machine, or still waking)
        // has nothing left to do: withdraw its ticket instead of waiting for the scheduler to run it.
        for (int w = 0; w < threads - 1; w++)
            if (s_workers[w].Withdraw()) Interlocked.Decrement(ref s_busyWorkers);

        // The caller's share is done; each worker is at most one body away. Poll first (a futex round trip costs
        // tens of microseconds), then sleep if a long body is still running.
        long spinUntil = Stopwatch.GetTimestamp() + SpinTicks;
        while (Volatile.Read(ref s_busyWorkers) != 0)
        {
            if (Stopwatch.GetTimestamp() > spinUntil)
            {
                s_workersDone.Wait();
                // The last worker of the previous call may have set the event after this call reset it: clear
                // such a stale signal and look again (the count is re-read before any further wait).
                if (Volatile.Read(ref s_busyWorkers) != 0) s_workersDone.Reset();
                continue;
            }
            Thread.SpinWait(SpinUnit);
        }
        s_body = null;
        ExceptionDispatchInfo? error = s_firstError;
        s_firstError = null;
        error?.Throw();
    }

    // Both sides poll for about this long before sleeping: long enough to catch back-to-back kernel calls (a
    // transformer layer issues dozens) and a worker finishing its last item, short enough not to steal a shared
    // machine's core for long.
    private static readonly long SpinTicks = Stopwatch.Frequency / 10_000; // 100 µs
    private const int SpinUnit = 8;

    /// <summary>Claims and runs indices until none are left. Runs on the caller and on every posted worker.</summary>
    private static void RunShare()
    {
        IParallelBody body = s_body!;
        int count = s_count;
        while (true)
        {
            int i = Interlocked.Increment(ref s_nextIndex) - 1;
            if (i >= count) return;
            try
            {
                body.Invoke(i);
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref s_firstError, ExceptionDispatchInfo.Capture(e), null);
                Volatile.Write(ref s_nextIndex, count); // stop handing out work: the call has failed
                return;
            }
        }
    }

    private static void EnsureWorkers(int needed)
    {
        if (s_workers.Length >= needed) return;
        var grown = new Worker[needed];
        s_workers.CopyTo(grown, 0);
        for (int w = s_workers.Length; w < needed; w++) grown[w] = new Worker(w);
        s_workers = grown;
    }

    /// <summary>A background thread that runs its share of each job posted to it.</summary>
    /// <remarks>
    /// A job is a bump of <see cref="_posted"/>. The worker polls it for a while, then announces it is going to
    /// sleep (<see cref="_sleeping"/>) and re-checks before blocking; the poster releases the semaphore only if it
    /// takes that announcement back, so a wake-up is neither lost nor left over.
    /// </remarks>
    private sealed class Worker
    {
        private readonly SemaphoreSlim _wake = new(0);
        private int _posted;
        private int _taken;
        private int _sleeping;

        // The job posted to this worker: Idle, Posted (not started) or Running. Exactly one of the worker (Posted →
        // Running) and the caller (Posted → Idle, see Withdraw) takes a posted ticket, so each job is run or withdrawn
        // once; a wake-up that finds no posted ticket (its job was withdrawn) does nothing.
        private const int Idle = 0, Posted = 1, Running = 2;
        private int _ticket;

        public Worker(int id)
        {
            var thread = new Thread(Loop) { IsBackground = true, Name = $"HeadMiner worker {id + 1}" };
            thread.Start();
        }

        /// <summary>Takes back a job this worker has not started; true if it did (the caller then counts it done).</summary>
        public bool Withdraw() => Interlocked.CompareExchange(ref _ticket, Idle, Posted) == Posted;

        public void Post()
        {
            Volatile.Write(ref _ticket, Posted); // before the bump the worker waits for
            Interlocked.Increment(ref _posted);
            if (Interlocked.Exchange(ref _sleeping, 0) == 1) _wake.Release();
        }

        private void Loop()
        {
            t_insideParallelRegion = true;
            while (true)
            {
                WaitForJob();
                _taken++;
                if (Interlocked.CompareExchange(ref _ticket, Running, Posted) != Posted) continue; // withdrawn
                RunShare();
                Volatile.Write(ref _ticket, Idle);
                if (Interlocked.Decrement(ref s_busyWorkers) == 0) s_workersDone.Set();
            }
        }

        private void WaitForJob()
        {
            long spinUntil = Stopwatch.GetTimestamp() + SpinTicks;
            while (Volatile.Read(ref _posted) == _taken)
            {
                if (Stopwatch.GetTimestamp() <= spinUntil)
                {
                    Thread.SpinWait(SpinUnit);
                    continue;
                }
                Interlocked.Exchange(ref _sleeping, 1);
                if (Volatile.Read(ref _posted) != _taken)
                {
                    // A job arrived meanwhile. If its poster already took the flag back, it has released (or is
                    // about to release) the semaphore: consume that release so it does not wake us for nothing later.
                    if (Interlocked.Exchange(ref _sleeping, 0) == 0) _wake.Wait();
                    return;
                }
                _wake.Wait();
            }
        }
    }

    private static int ReadThreadSetting()
    {
        string? s = Environment.GetEnvironmentVariable("HEADMINER_THREADS");
        return int.TryParse(s, out int n) && n > 0 ? n : Environment.ProcessorCount;
    }
}
