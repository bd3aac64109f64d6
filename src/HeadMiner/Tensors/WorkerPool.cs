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

    /// <summary>Runs body.Invoke(i) for every i in [0, count) on up to <see cref="MaxThreads"/> threads; returns when all are done.</summary>
    public static void For(int count, IParallelBody body)
    {
        if (count <= 0) return;
        int threads = Math.Min(MaxThreads, count);
        if (threads == 1 || t_insideParallelRegion)
        {
            for (int i = 0; i < count; i++) body.Invoke(i);
            return;
        }
        Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = threads }, i =>
        {
            bool outer = t_insideParallelRegion;
            t_insideParallelRegion = true;
            try { body.Invoke(i); }
            finally { t_insideParallelRegion = outer; }
        });
    }

    /// <summary>Convenience overload for code off the hot path (allocates a closure).</summary>
    public static void For(int count, Action<int> body) => For(count, new ActionBody(body));

    private sealed class ActionBody(Action<int> action) : IParallelBody
    {
        public void Invoke(int index) => action(index);
    }

    private static int ReadThreadSetting()
    {
        string? s = Environment.GetEnvironmentVariable("HEADMINER_THREADS");
        return int.TryParse(s, out int n) && n > 0 ? n : Environment.ProcessorCount;
    }
}
