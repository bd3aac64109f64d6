using System.Diagnostics;
using System.Numerics.Tensors;
using HeadMiner.Models.Formats;
using HeadMiner.Tensors;
using HeadMiner.Tensors.Kernels;

namespace HeadMiner.Bench;

/// <summary>
/// `decode [--quick]`: the one-row product (GEMV) that decoding with a KV cache runs, on one Llama-3.2-1B layer's
/// weights (q, k, v, o, gate, up, down: 60.8M weights, stored [out, in] as nn.Linear, BF16, F16 and F32), in bytes
/// of weights read per second, against the machine's memory bandwidth measured in the same run (summing a 1 GiB
/// array, same thread count). The ratio is the issue's goal (≥ 0.8). Random weights, seeded; best of several passes.
/// </summary>
public static class DecodeBench
{
    internal static readonly (string Name, int Out, int In)[] Layer =
    [
        ("q_proj", 2048, 2048), ("k_proj", 512, 2048), ("v_proj", 512, 2048), ("o_proj", 2048, 2048),
        ("gate_proj", 8192, 2048), ("up_proj", 8192, 2048), ("down_proj", 2048, 8192),
    ];

    public static int Run(string[] args)
    {
        bool quick = args.Contains("--quick");
        int passes = quick ? 3 : 8;
        Console.WriteLine($"decode: y = x·Wᵀ for one row over one Llama-3.2-1B layer (60.8M weights, [out, in]); {WorkerPool.MaxThreads} threads, best of {passes}");
        double bandwidth = Bandwidth(passes);
        Console.WriteLine($"memory bandwidth (sum of a 1 GiB float array): {bandwidth / 1e9:F1} GB/s");
        Console.WriteLine();
        Console.WriteLine($"{"weights",-8} {"bytes",10} {"ms/layer",9} {"GB/s",7} {"÷ bandwidth",12}");
        foreach (var format in new[] { "BF16", "F16", "F32" })
        {
            var (bytes, seconds) = Gemv(format, passes);
            Console.WriteLine($"{format,-8} {bytes / 1e6,8:F0}MB {seconds * 1e3,9:F2} {bytes / seconds / 1e9,7:F1} {bytes / seconds / bandwidth,12:F2}");
        }
        return 0;
    }

    /// <summary>Bytes per second of reading a 1 GiB array (too big for any cache) with a vectorised sum split over the worker threads.</summary>
    internal static double Bandwidth(int passes)
    {
        const int Count = 1 << 28;
        var data = new float[Count];
        new SeededRandom(1).FillUniform(data.AsSpan(0, 1 << 20), 0, 1);
        for (int i = 1 << 20; i < Count; i += 1 << 20) data.AsSpan(0, 1 << 20).CopyTo(data.AsSpan(i, 1 << 20));
        int chunks = 64;
        var sums = new float[chunks];
        double best = double.MaxValue;
        for (int pass = 0; pass < passes; pass++)
        {
            var watch = Stopwatch.StartNew();
            WorkerPool.For(chunks, c => sums[c] = TensorPrimitives.Sum(data.AsSpan(c * (Count / chunks), Count / chunks)));
            best = Math.Min(best, watch.Elapsed.TotalSeconds);
        }
        GC.KeepAlive(sums);
        return (double)Count * sizeof(float) / best;
    }

    private static (long Bytes, double Seconds) Gemv(string format, int passes)
    {
        var random = new SeededRandom(2);
        var weights = new List<(int Out, int In, float[]? Full, ushort[]? Half)>();
        long bytes = 0;
        foreach (var (_, outDim, inDim) in Layer)
        {
            var values = new float[outDim * inDim];
            random.FillNormal(values, 0.02f);
            if (format == "F32")
            {
                weights.Add((outDim, inDim, values, null));
                bytes += values.Length * sizeof(float);
                continue;
            }
            var bits = new ushort[values.Length];
            if (format == "BF16") HalfPrecision.FloatToBf16(values, bits);
            else HalfPrecision.FloatToF16(values, bits);
            weights.Add((outDim, inDim, null, bits));
            bytes += bits.Length * sizeof(ushort);
        }
        var halfFormat = format == "BF16" ? HalfFormat.BFloat16 : HalfFormat.Float16;
        var x = new float[8192];
        random.FillNormal(x, 1f);
        var y = new float[8192];
        double best = double.MaxValue;
        for (int pass = 0; pass < passes + 1; pass++) // the first pass warms up (JIT, page faults)
        {
            var watch = Stopwatch.StartNew();
            foreach (var (outDim, inDim, full, half) in weights)
            {
                if (full is not null) Gemm.Multiply(false, true, 1, outDim, inDim, 1f, x.AsSpan(0, inDim), inDim, full, inDim, 0f, y, outDim);
                else Gemm.Multiply(false, true, 1, outDim, inDim, 1f, x.AsSpan(0, inDim), inDim, half, halfFormat, inDim, 0f, y, outDim);
            }
            if (pass > 0) best = Math.Min(best, watch.Elapsed.TotalSeconds);
        }
        return (bytes, best);
    }
}
