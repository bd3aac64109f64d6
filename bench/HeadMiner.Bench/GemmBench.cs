using System.Diagnostics;
using HeadMiner.Tensors;
using HeadMiner.Tensors.Kernels;

namespace HeadMiner.Bench;

/// <summary>
/// `gemm [--quick]`: our Gemm against OpenBLAS cblas_sgemm, 1 and 2 threads, in GFLOP/s (best of several repetitions),
/// on square products and the GPT-2 small shapes (128 tokens; the last one is the tied unembedding x·W_Eᵀ).
/// </summary>
public static unsafe class GemmBench
{
    private sealed record Shape(string Name, int M, int K, int N, bool TransB);

    private static readonly Shape[] Shapes =
    [
        new("1024³", 1024, 1024, 1024, false),
        new("2048³", 2048, 2048, 2048, false),
        new("128×768×768", 128, 768, 768, false),
        new("128×768×3072", 128, 768, 3072, false),
        new("128×768×50257 Bᵀ", 128, 768, 50257, true),
    ];

    public static int Run(string[] args)
    {
        if (args.Contains("--strided-weights")) return StridedWeights(args.Contains("--quick") ? 10 : 30);
        bool quick = args.Contains("--quick");
        int repetitions = quick ? 3 : 10;
        double minSecondsPerRepetition = quick ? 0.03 : 0.1;

        OpenBlas? blas = OpenBlas.TryLoad();
        Console.WriteLine($"gemm: C = A·op(B), fp32, GFLOP/s = 2mnk/time, best of {repetitions} repetitions (each ≥ {minSecondsPerRepetition * 1000:0} ms of calls)");
        Console.WriteLine(blas is null
            ? "OpenBLAS: absent (libopenblas.so.0 not found), so no reference columns"
            : $"OpenBLAS: libopenblas.so.0, core {blas.CoreName}");
        Console.WriteLine($"machine: {Environment.ProcessorCount} logical cores; shape = m×k×n");
        Console.WriteLine();
        Console.WriteLine($"{"shape",-18} {"ours 1T",9} {"BLAS 1T",9} {"ratio",6} {"ours 2T",9} {"BLAS 2T",9} {"ratio",6}  max rel diff");

        int savedThreads = WorkerPool.MaxThreads;
        try
        {
            foreach (Shape shape in Shapes) RunShape(shape, blas, repetitions, minSecondsPerRepetition);
        }
        finally
        {
            WorkerPool.MaxThreads = savedThreads;
        }
        return 0;
    }

    private static void RunShape(Shape s, OpenBlas? blas, int repetitions, double minSeconds)
    {
        var random = new SeededRandom(42);
        float[] a = new float[s.M * s.K], b = new float[s.K * s.N], ours = new float[s.M * s.N], theirs = new float[s.M * s.N];
        random.FillNormal(a, 1);
        random.FillNormal(b, 1);
        int ldb = s.TransB ? s.K : s.N;
        double flops = 2.0 * s.M * s.N * s.K;

        fixed (float* pa = a, pb = b, pTheirs = theirs)
        {
            float* pA = pa, pB = pb, pC = pTheirs;
            void OursCall() => Gemm.Multiply(false, s.TransB, s.M, s.N, s.K, 1, a, s.K, b, ldb, 0, ours, s.N);
            void BlasCall() => blas!.Sgemm(false, s.TransB, s.M, s.N, s.K, 1, pA, s.K, pB, ldb, 0, pC, s.N);

            // The machine may be shared: the four configurations take turns within each repetition, so a busy
            // spell hits them alike, and the best repetition of each is reported.
            double ours1 = 0, ours2 = 0, blas1 = 0, blas2 = 0;
            for (int r = 0; r < repetitions; r++)
            {
                WorkerPool.MaxThreads = 1;
                ours1 = Math.Max(ours1, Measure(OursCall, flops, minSeconds));
                WorkerPool.MaxThreads = 2;
                ours2 = Math.Max(ours2, Measure(OursCall, flops, minSeconds));
                if (blas is null) continue;
                blas.SetThreads(1);
                blas1 = Math.Max(blas1, Measure(BlasCall, flops, minSeconds));
                blas.SetThreads(2);
                blas2 = Math.Max(blas2, Measure(BlasCall, flops, minSeconds));
                blas.SetThreads(1);
                Thread.Sleep(150); // OpenBLAS's threads poll for ~0.1 s after a call: let them sleep before ours run
            }

            string line = $"{s.Name,-18} {ours1,9:0.0}";
            if (blas is null)
            {
                Console.WriteLine($"{line} {"-",9} {"-",6} {ours2,9:0.0} {"-",9} {"-",6}");
                return;
            }
            Console.WriteLine($"{line} {blas1,9:0.0} {ours1 / blas1,6:0.00} {ours2,9:0.0} {blas2,9:0.0} {ours2 / blas2,6:0.00}  {MaxRelativeDifference(ours, theirs):0.0e+0}");
        }
    }

    /// <summary>
    /// `gemm --strided-weights`: GPT-2 small's four weight products at 128 rows, each over 24 distinct [in, out] weights
    /// (so B comes from memory, as in a forward), with the weights at their own row stride (768, 2,304 or 3,072 floats:
    /// multiples of 3 KiB) and at a stride 16 floats (64 bytes) longer, alternating in one process. The checkpoint's
    /// layout fixes the stride; this shows what it costs. Prints the median time ratio over the rounds.
    /// </summary>
    private static int StridedWeights(int rounds)
    {
        const int m = 128, weights = 24, pad = 16;
        Console.WriteLine($"gemm --strided-weights: {m} rows × {weights} distinct weights per product, {WorkerPool.MaxThreads} threads, {rounds} rounds");
        Console.WriteLine($"{"product",-28} {"ms, own stride",15} {"ms, +64 B",10} {"+64 B / own, median (range)",28}");
        foreach (var (name, k, n) in new[] { ("c_attn 128×768×2304", 768, 2304), ("attn c_proj 128×768×768", 768, 768), ("c_fc 128×768×3072", 768, 3072), ("mlp c_proj 128×3072×768", 3072, 768) })
        {
            var random = new SeededRandom(11);
            var a = new float[m * k];
            random.FillNormal(a, 1);
            float[][] Weights(int ldb) => [.. Enumerable.Range(0, weights).Select(_ => { var w = HugePageArrays.Uninitialized(k * ldb); random.FillNormal(w, 1); return w; })];
            float[][] own = Weights(n), longer = Weights(n + pad);
            var c = new float[m * n];
            double Time(float[][] bs, int ldb)
            {
                long start = Stopwatch.GetTimestamp();
                foreach (var b in bs) Gemm.Multiply(false, false, m, n, k, 1, a, k, b, ldb, 0, c, n);
                return Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            }
            for (int w = 0; w < 3; w++) { Time(own, n); Time(longer, n + pad); }
            var ownMs = new List<double>(); var longerMs = new List<double>(); var ratios = new List<double>();
            for (int r = 0; r < rounds; r++)
            {
                ownMs.Add(Time(own, n));
                longerMs.Add(Time(longer, n + pad));
                ratios.Add(longerMs[^1] / ownMs[^1]);
            }
            Console.WriteLine($"{name,-28} {BenchModel.Median(ownMs),15:F2} {BenchModel.Median(longerMs),10:F2} {$"{BenchModel.Median(ratios):F3} ({ratios.Min():F2}–{ratios.Max():F2})",28}");
        }
        return 0;
    }

    /// <summary>GFLOP/s of back-to-back calls for at least minSeconds, after one untimed warm-up call.</summary>
    private static double Measure(Action call, double flops, double minSeconds)
    {
        call(); // warm-up: JIT, pack buffers, worker threads, caches
        int calls = 0;
        long start = Stopwatch.GetTimestamp();
        double elapsed;
        do
        {
            call();
            calls++;
            elapsed = Stopwatch.GetElapsedTime(start).TotalSeconds;
        } while (elapsed < minSeconds);
        return flops * calls / elapsed / 1e9;
    }

    private static double MaxRelativeDifference(float[] x, float[] y)
    {
        double scale = 0, diff = 0;
        for (int i = 0; i < x.Length; i++)
        {
            scale = Math.Max(scale, Math.Abs(y[i]));
            diff = Math.Max(diff, Math.Abs(x[i] - y[i]));
        }
        return diff / Math.Max(scale, float.Epsilon);
    }
}
