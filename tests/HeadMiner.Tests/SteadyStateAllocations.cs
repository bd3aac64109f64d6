namespace HeadMiner.Tests;

/// <summary>
/// Bytes a call allocates on the calling thread once warm. The runtime itself allocates now and then while code runs —
/// tiered JIT recompiles hot methods and restarts its background worker thread from the thread that trips the
/// call-count threshold — so one window of calls can show a few KB that the code under test never asked for. A real
/// per-call allocation shows in every window; the least over several windows is what the code allocates.
/// </summary>
internal static class SteadyStateAllocations
{
    public static long Measure(Action call, int callsPerWindow = 10, int windows = 5)
    {
        for (int warm = 0; warm < callsPerWindow; warm++) call();
        long least = long.MaxValue;
        for (int w = 0; w < windows && least > 0; w++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < callsPerWindow; i++) call();
            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        return least;
    }
}
