using System.Diagnostics;
using System.Numerics.Tensors;
using HeadMiner.Models.Formats;
using HeadMiner.Tensors;
using HeadMiner.Tensors.Kernels;

namespace HeadMiner.Bench;

/// <summary>
/// `bf16 [--quick]`: the four ways to multiply by 16-bit weights, side by side in one run, on Llama-3.2-1B shapes
/// (weights stored [out, in] as nn.Linear, random, seeded):
/// managed fp32 (float32 weights: the reference), managed bf16 weights (widened inside packing, fp32 arithmetic),
/// native bf16 weights with fp32 arithmetic (the widening GEMV; decode only), native bf16 dot product (VDPBF16PS,
/// activations rounded to bf16; nn.Linear weights read in place, and for comparison the kernel that packs them).
/// GEMM: GFLOP/s at 128 rows. Decode (one row over one layer's seven matrices): GB/s of
/// weights and the fraction of the memory bandwidth measured in the same run, and GFLOP/s. The contenders take turns
/// within each repetition; each keeps its best. The largest difference from the fp32 result is printed too.
/// </summary>
public static class Bf16Bench
{
    /// <summary>One Llama-3.2-1B layer's matrices: the decode benchmark's.</summary>
    private static readonly (string Name, int Out, int In)[] Layer = DecodeBench.Layer;

    private static readonly string[] Contenders = ["managed fp32", "managed bf16-weights", "native bf16-w fp32-math", "native bf16 dot"];

    public static int Run(string[] args)
    {
        bool quick = args.Contains("--quick");
        int reps = quick ? 3 : 8;
        Console.WriteLine($"bf16: {WorkerPool.MaxThreads} threads, best of {reps}; native kernels: {GemmBf16.Implementation}");
        if (!GemmBf16.IsNative) Console.WriteLine("(without the native kernels the 'native' columns run the managed emulation or are skipped)");
        Gemms(reps, quick);
        Console.WriteLine();
        Decode(reps);
        return 0;
    }

    private static void Gemms(int reps, bool quick)
    {
        (int M, int K, int N)[] shapes = quick
            ? [(128, 2048, 2048), (128, 2048, 8192)]
            : [(128, 2048, 2048), (128, 2048, 8192), (128, 8192, 2048), (512, 2048, 2048)];
        Console.WriteLine("GEMM C[m×n] = A[m×k]·Wᵀ, W [n, k] (GFLOP/s; ratio to managed fp32 in parentheses; max |Δ| relative to max |C_fp32|)");
        Console.WriteLine($"{"shape m×k×n",-16} {Contenders[0],14} {Contenders[1],22} {Contenders[2],24} {Contenders[3],22}   max rel Δ (bf16-w / dot)");
        foreach (var (m, k, n) in shapes)
        {
            var random = new SeededRandom((ulong)(m + k + n));
            var a = new float[m * k];
            random.FillNormal(a, 1f);
            var w = new float[n * k];
            random.FillNormal(w, 0.02f);
            var bits = new ushort[w.Length];
            HalfPrecision.FloatToBf16(w, bits);
            var wRounded = new float[w.Length];
            HalfPrecision.Bf16ToFloat(bits, wRounded);
            var c0 = new float[m * n];
            var c1 = new float[m * n];
            var c3 = new float[m * n];
            var c4 = new float[m * n];
            Action[] runs =
            [
                () => Gemm.Multiply(false, true, m, n, k, 1f, a, k, wRounded, k, 0f, c0, n),
                () => Gemm.Multiply(false, true, m, n, k, 1f, a, k, bits, HalfFormat.BFloat16, k, 0f, c1, n),
                () => { },
                () => GemmBf16.Multiply(true, m, n, k, 1f, a, k, bits, HalfFormat.BFloat16, k, 0f, c3, n),
                () =>
                {
                    // The native kernel that packs the weights (the general path; the dot column reads them in place).
                    GemmBf16.t_packWeights = true;
                    try
                    {
                        GemmBf16.Multiply(true, m, n, k, 1f, a, k, bits, HalfFormat.BFloat16, k, 0f, c4, n);
                    }
                    finally
                    {
                        GemmBf16.t_packWeights = false;
                    }
                },
            ];
            var best = Interleave(runs, reps, skip: 2);
            double flops = 2.0 * m * n * k;
            double scale = MaxAbs(c0);
            Console.WriteLine($"{$"{m}×{k}×{n}",-16} {Gflops(flops, best[0]),14} {Cell(flops, best[1], best[0]),22} {"—",24} {Cell(flops, best[3], best[0]),22}   {MaxAbsDiff(c0, c1) / scale:0.0e+0} / {MaxAbsDiff(c0, c3) / scale:0.0e+0}");
            if (GemmBf16.IsNative)
                Console.WriteLine($"{"",-16} native bf16 dot with the weights packed: {Gflops(flops, best[4])} GFLOP/s; weights read in place / packed: {best[3] / best[4]:F2}× the time");
        }
        Console.WriteLine("(managed fp32 multiplies the bf16-rounded weights as float32, so managed bf16-weights must equal it: Δ 0)");
    }

    private static void Decode(int reps)
    {
        double bandwidth = DecodeBench.Bandwidth(reps);
        Console.WriteLine($"decode: y = x·Wᵀ, one row over one Llama-3.2-1B layer (60.8M weights); memory bandwidth (sum of a 1 GiB float array): {bandwidth / 1e9:F1} GB/s");
        var random = new SeededRandom(2);
        var full = new List<float[]>();
        var half = new List<ushort[]>();
        long weights = 0;
        foreach (var (_, outDim, inDim) in Layer)
        {
            var values = new float[outDim * inDim];
            random.FillNormal(values, 0.02f);
            var bits = new ushort[values.Length];
            HalfPrecision.FloatToBf16(values, bits);
            HalfPrecision.Bf16ToFloat(bits, values);
            full.Add(values);
            half.Add(bits);
            weights += values.Length;
        }
        var x = new float[8192];
        random.FillNormal(x, 1f);
        var ys = Enumerable.Range(0, 4).Select(_ => Layer.Select(l => new float[l.Out]).ToArray()).ToArray();
        Action[] runs =
        [
            () => { for (int i = 0; i < Layer.Length; i++) Gemm.Multiply(false, true, 1, Layer[i].Out, Layer[i].In, 1f, x.AsSpan(0, Layer[i].In), Layer[i].In, full[i], Layer[i].In, 0f, ys[0][i], Layer[i].Out); },
            () => { for (int i = 0; i < Layer.Length; i++) Gemm.Multiply(false, true, 1, Layer[i].Out, Layer[i].In, 1f, x.AsSpan(0, Layer[i].In), Layer[i].In, half[i], HalfFormat.BFloat16, Layer[i].In, 0f, ys[1][i], Layer[i].Out); },
            () => { for (int i = 0; i < Layer.Length; i++) GemmBf16.TryMultiplyRowWidening(true, Layer[i].Out, Layer[i].In, x.AsSpan(0, Layer[i].In), half[i], Layer[i].In, 0f, ys[2][i]); },
            () => { for (int i = 0; i < Layer.Length; i++) GemmBf16.Multiply(true, 1, Layer[i].Out, Layer[i].In, 1f, x.AsSpan(0, Layer[i].In), Layer[i].In, half[i], HalfFormat.BFloat16, Layer[i].In, 0f, ys[3][i], Layer[i].Out); },
        ];
        var best = Interleave(runs, reps, skip: GemmBf16.IsNative ? -1 : 2);
        Console.WriteLine($"{"contender",-26} {"bytes",8} {"ms/layer",9} {"GB/s",7} {"÷ bandwidth",12} {"GFLOP/s",8} {"max rel Δ vs fp32",18}");
        double scale = ys[0].Max(MaxAbs);
        for (int c = 0; c < 4; c++)
        {
            long bytes = weights * (c == 0 ? 4 : 2);
            if (double.IsInfinity(best[c]))
            {
                Console.WriteLine($"{Contenders[c],-26} (not available: {NativeBf16.Unavailable})");
                continue;
            }
            double diff = Enumerable.Range(0, Layer.Length).Max(i => MaxAbsDiff(ys[0][i], ys[c][i])) / scale;
            Console.WriteLine($"{Contenders[c],-26} {bytes / 1e6,6:F0}MB {best[c] * 1e3,9:F2} {bytes / best[c] / 1e9,7:F1} {bytes / best[c] / bandwidth,12:F2} {2.0 * weights / best[c] / 1e9,8:F1} {diff,18:0.0e+0}");
        }
    }

    /// <summary>Best seconds per contender over <paramref name="reps"/> rounds (after a warm-up round), contenders taking turns; <paramref name="skip"/> is not run (infinity).</summary>
    private static double[] Interleave(Action[] runs, int reps, int skip)
    {
        var best = Enumerable.Repeat(double.PositiveInfinity, runs.Length).ToArray();
        for (int r = 0; r <= reps; r++)
            for (int c = 0; c < runs.Length; c++)
            {
                if (c == skip) continue;
                // At least 100 ms of back-to-back calls per measurement, so a preempted call does not decide it.
                int calls = 0;
                var watch = Stopwatch.StartNew();
                do
                {
                    runs[c]();
                    calls++;
                } while (watch.Elapsed.TotalMilliseconds < 100);
                if (r > 0) best[c] = Math.Min(best[c], watch.Elapsed.TotalSeconds / calls);
            }
        return best;
    }

    private static string Gflops(double flops, double seconds) => $"{flops / seconds / 1e9:F1}";

    private static string Cell(double flops, double seconds, double reference) =>
        double.IsInfinity(seconds) ? "—" : $"{flops / seconds / 1e9:F1} ({reference / seconds:F2}×)";

    private static double MaxAbs(float[] values) => values.Max(v => Math.Abs((double)v));

    private static double MaxAbsDiff(float[] a, float[] b)
    {
        double max = 0;
        for (int i = 0; i < a.Length; i++) max = Math.Max(max, Math.Abs((double)a[i] - b[i]));
        return max;
    }
}
