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
/// hand out indices from one shared counter, so a parallel call allocates nothing and costs microseconds: the
/// workers spin briefly after a job in case another follows, then sleep on a semaphore. One parallel region runs at
/// a time; a second thread that calls <see cref="For(int, IParallelBody)"/> while the workers are busy runs its loop
/// inline, which is correct and never deadlocks.
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
        for (int w = 0; w < threads - 1; w++) s_workers[w].Wake();

        t_insideParallelRegion = true;
        try
        {
            RunShare();
        }
        finally
        {
            t_insideParallelRegion = false;
        }

        // The caller's share is done; the workers' last indices are at most one body each away.
        var spinner = new SpinWait();
        while (Volatile.Read(ref s_busyWorkers) != 0)
        {
            if (spinner.NextSpinWillYield) s_workersDone.Wait();
            else spinner.SpinOnce(sleep1Threshold: -1);
        }
        s_body = null;
        ExceptionDispatchInfo? error = s_firstError;
        s_firstError = null;
        error?.Throw();
    }

    /// <summary>Claims and runs indices until none are left. Runs on the caller and on every woken worker.</summary>
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

    /// <summary>A background thread that runs its share of each job it is woken for.</summary>
    private sealed class Worker
    {
        // How long a worker keeps polling for the next job before it sleeps: long enough to catch back-to-back
        // kernel calls (a transformer layer issues dozens), short enough not to steal a shared machine's core.
        private const int SpinIterationsBeforeSleep = 200;

        private readonly SemaphoreSlim _wake = new(0);
        private int _pendingWakes;

        public Worker(int id)
        {
            var thread = new Thread(Loop) { IsBackground = true, Name = $"HeadMiner worker {id + 1}" };
            thread.Start();
        }

        public void Wake()
        {
            Interlocked.Increment(ref _pendingWakes);
            _wake.Release();
        }

        private void Loop()
        {
            t_insideParallelRegion = true;
            while (true)
            {
                WaitForJob();
                RunShare();
                if (Interlocked.Decrement(ref s_busyWorkers) == 0) s_workersDone.Set();
            }
        }

        private void WaitForJob()
        {
            for (int spin = 0; spin < SpinIterationsBeforeSleep; spin++)
            {
                if (Volatile.Read(ref _pendingWakes) != 0 && _wake.Wait(0))
                {
                    Interlocked.Decrement(ref _pendingWakes);
                    return;
                }
                Thread.SpinWait(20);
            }
            _wake.Wait();
            Interlocked.Decrement(ref _pendingWakes);
        }
    }

    private static int ReadThreadSetting()
    {
        string? s = Environment.GetEnvironmentVariable("HEADMINER_THREADS");
        return int.TryParse(s, out int n) && n > 0 ? n : Environment.ProcessorCount;
    }
}
