using System.Diagnostics;
using System.Runtime;

namespace HeadMiner.TorchReference;

/// <summary>
/// Timing on a shared machine: the contenders take turns within every round (ours, then each reference), so a busy
/// spell hits them alike, and each ratio is taken within a round before the median is. One untimed warm-up round first.
/// </summary>
public static class Interleaved
{
    /// <summary>
    /// HEADMINER_BENCH_DIAG=1: after each timed call, print to stderr its CPU time, minor page faults, collections and
    /// each thread's user/system CPU. That is how a contender slowed by something outside its code shows (fresh pages
    /// faulting, another library's threads spinning): its wall time stays, its breakdown does not.
    /// </summary>
    private static readonly bool s_diagnose = Environment.GetEnvironmentVariable("HEADMINER_BENCH_DIAG") == "1";

    /// <summary>
    /// Methods the runtime compiled during the last <see cref="Time"/> call's timed rounds (tiered compilation
    /// still promoting code), and the compiler's time for them. Zero after a <see cref="WarmUp"/> that reached the steady state.
    /// </summary>
    public static (long Methods, double Ms) LastTimedCompilations { get; private set; }

    /// <summary>
    /// Calls <paramref name="contender"/> <paramref name="calls"/> times, then waits until the runtime's background
    /// compiler has been idle for 300 ms (at most 10 s).
    /// </summary>
    /// <remarks>
    /// Why: .NET compiles a method again, optimised, after its 30th call, on a background thread. A method that a
    /// forward calls once, such as the forward itself, reaches that only at the 31st forward. Until then that thread
    /// competes for the two cores with whatever is being timed: it used 120 ms of CPU during our first timed 1×128
    /// forward, and 117 ms at the 31st forward alone (`bench forward-profile`, `JitInfo`). So each side is timed in its
    /// steady state, as a long analysis runs it. Warm up on the input that will be timed: a different size takes other
    /// paths (the GEMM picks its order by row count). After 32 forwards on 1×8 tokens, the first 1×128 forwards still
    /// compiled ~185 more methods and took 140–175 ms, against ~115 ms in the steady state (`forward-profile`, a scratch warm-up).
    /// </remarks>
    public static void WarmUp(int calls, Action contender)
    {
        for (int i = 0; i < calls; i++) contender();
        var waited = Stopwatch.StartNew();
        long count = JitInfo.GetCompiledMethodCount();
        var quietSince = Stopwatch.StartNew();
        while (quietSince.ElapsedMilliseconds < 300 && waited.ElapsedMilliseconds < 10_000)
        {
            Thread.Sleep(20);
            long now = JitInfo.GetCompiledMethodCount();
            if (now != count) quietSince.Restart();
            count = now;
        }
    }

    /// <summary>Per contender, the wall time of each round in milliseconds.</summary>
    public static double[][] Time(int rounds, params Action[] contenders) => Time(rounds, afterItself: false, contenders);

    /// <summary>
    /// Per contender, the wall time of each round in milliseconds; with <paramref name="afterItself"/>, each timed call
    /// comes right after an untimed call of the same contender, as in a user's loop, instead of after the previous
    /// contender's.
    /// </summary>
    /// <remarks>
    /// Why: on this project's VM guests a forward runs slower for seconds after anything in the machine has touched
    /// and freed a lot of memory, and LibTorch's eager forward takes and frees fresh memory for its temporaries each time
    /// (770–860 MB per call at GPT-2's 1×1024). In plain turns our forward always followed torch's and paid for it, and
    /// torch's SDPA forward followed its eager one. Our forward ran 8–11% slower after torch's than after its own on a
    /// Qwen3-1.7B shape (both in the same rounds), and `bench forward-profile --after-free 2` reproduces 8–20% without
    /// torch (docs/PERFORMANCE.md). Each contender after itself pays for its own memory habits only, as it would alone.
    /// </remarks>
    public static double[][] Time(int rounds, bool afterItself, params Action[] contenders)
    {
        foreach (var c in contenders) c();
        long methods0 = JitInfo.GetCompiledMethodCount();
        var jit0 = JitInfo.GetCompilationTime();
        var times = contenders.Select(_ => new double[rounds]).ToArray();
        for (int r = 0; r < rounds; r++)
            for (int i = 0; i < contenders.Length; i++)
            {
                if (afterItself) contenders[i]();
                var (cpu0, faults0) = s_diagnose ? ProcessCounters() : default;
                int gen0 = GC.CollectionCount(0), gen2 = GC.CollectionCount(2);
                var threads0 = s_diagnose ? ThreadCpu() : null;
                long t0 = Stopwatch.GetTimestamp();
                contenders[i]();
                times[i][r] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                if (s_diagnose)
                {
                    var (cpu1, faults1) = ProcessCounters();
                    var threads = ThreadCpu().Select(kv => (kv.Key, Ms: kv.Value - threads0!.GetValueOrDefault(kv.Key))).Where(t => t.Ms > 0);
                    Console.Error.WriteLine($"round {r} contender {i}: wall {times[i][r]:F0} ms, CPU {cpu1 - cpu0:F0} ms, minor faults {faults1 - faults0}, "
                        + $"collections gen0 {GC.CollectionCount(0) - gen0} gen2 {GC.CollectionCount(2) - gen2}; threads: {string.Join(", ", threads.Select(t => $"{t.Key} {t.Ms:F0} ms"))}");
                }
            }
        LastTimedCompilations = (JitInfo.GetCompiledMethodCount() - methods0, (JitInfo.GetCompilationTime() - jit0).TotalMilliseconds);
        return times;
    }

    /// <summary>The process's CPU time (user + system) and minor page faults so far, from /proc/self/stat.</summary>
    private static (double CpuMs, long MinorFaults) ProcessCounters()
    {
        var f = File.ReadAllText("/proc/self/stat");
        var parts = f[(f.LastIndexOf(')') + 2)..].Split(' ');
        long minflt = long.Parse(parts[7]), utime = long.Parse(parts[11]), stime = long.Parse(parts[12]);
        return ((utime + stime) * 10.0, minflt); // clock ticks of 10 ms (USER_HZ = 100 on Linux)
    }

    /// <summary>Each thread's user and system CPU milliseconds so far ("tid:name user|sys"), from /proc/self/task.</summary>
    private static Dictionary<string, double> ThreadCpu()
    {
        var result = new Dictionary<string, double>();
        foreach (var dir in Directory.GetDirectories("/proc/self/task"))
        {
            try
            {
                var f = File.ReadAllText(Path.Combine(dir, "stat"));
                var comm = f[(f.IndexOf('(') + 1)..f.LastIndexOf(')')];
                var parts = f[(f.LastIndexOf(')') + 2)..].Split(' ');
                result[$"{Path.GetFileName(dir)}:{comm} user"] = long.Parse(parts[11]) * 10.0;
                result[$"{Path.GetFileName(dir)}:{comm} sys"] = long.Parse(parts[12]) * 10.0;
            }
            catch (IOException) { }
        }
        return result;
    }

    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        if (sorted.Length == 0) return double.NaN;
        int mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }

    /// <summary>Median over rounds of ours[r] / reference[r].</summary>
    public static double MedianRatio(double[] ours, double[] reference) => Median(ours.Zip(reference, (a, b) => a / b));

    /// <summary>"min–max" of the per-round ratios, to show how much the machine moved.</summary>
    public static string RatioRange(double[] ours, double[] reference)
    {
        var r = ours.Zip(reference, (a, b) => a / b).ToArray();
        return $"{r.Min():F2}–{r.Max():F2}";
    }
}
