using System.Diagnostics;
using HeadMiner.Tensors;
using HeadMiner.Tensors.Kernels;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace HeadMiner.TorchReference;

/// <summary>
/// `gemm`: float32 C = A·Wᵀ (a linear layer: A [M, K] activations, W [N, K] weights) by our GEMM and by LibTorch's
/// (F.linear; MKL sgemm in this build), GFLOP/s, on the shapes of GPT-2 small's and the 1B shape's layers plus a
/// square one; LibTorch's bfloat16 product on the same shapes for information (oneDNN, AVX512_BF16 where present).
/// Each round measures every contender for at least --min-seconds; medians over rounds.
/// </summary>
public static class GemmReference
{
    private static readonly (string Name, int M, int N, int K)[] Shapes =
    [
        ("GPT-2 c_attn 128×2304×768", 128, 2304, 768),
        ("GPT-2 c_fc 128×3072×768", 128, 3072, 768),
        ("GPT-2 c_proj (mlp) 128×768×3072", 128, 768, 3072),
        ("GPT-2 c_attn 1024×2304×768", 1024, 2304, 768),
        ("GPT-2 c_fc 1024×3072×768", 1024, 3072, 768),
        ("GPT-2 c_proj (mlp) 1024×768×3072", 1024, 768, 3072),
        ("GPT-2 unembed 1024×50257×768", 1024, 50257, 768),
        ("1B q/o 128×2048×2048", 128, 2048, 2048),
        ("1B gate/up 128×8192×2048", 128, 8192, 2048),
        ("1B down 128×2048×8192", 128, 2048, 8192),
        ("square 2048³", 2048, 2048, 2048),
    ];

    public static int Run(string[] args)
    {
        bool quick = args.Contains("--quick");
        int rounds = quick ? 3 : 7;
        double minSeconds = quick ? 0.15 : 0.4;
        Console.WriteLine($"GEMM C = A·Wᵀ, float32; ours {WorkerPool.MaxThreads} threads, torch {torch.get_num_threads()} threads; {rounds} interleaved rounds, ≥ {minSeconds} s each");
        var rows = new List<string>();
        foreach (var (name, m, n, k) in Shapes)
        {
            var rng = new SeededRandom(5);
            float[] a = new float[m * k], w = new float[n * k], c = new float[m * n];
            rng.FillNormal(a, 1);
            rng.FillNormal(w, 1);
            using var ta = torch.tensor(a, [m, k]);
            using var tw = torch.tensor(w, [n, k]);
            using var ta16 = ta.to(ScalarType.BFloat16);
            using var tw16 = tw.to(ScalarType.BFloat16);
            double flops = 2.0 * m * n * k;
            Gemm.Multiply(false, true, m, n, k, 1, a, k, w, k, 0, c, n);
            double diff;
            using (var scope = torch.NewDisposeScope())
            {
                var expected = F.linear(ta, tw);
                diff = (torch.tensor(c, [m, n]) - expected).abs().max().item<float>() / expected.abs().max().item<float>();
            }
            var ours = new List<double>();
            var fp32 = new List<double>();
            var bf16 = new List<double>();
            using (torch.inference_mode())
            {
                for (int r = 0; r < rounds; r++)
                {
                    ours.Add(GigaFlops(() => Gemm.Multiply(false, true, m, n, k, 1, a, k, w, k, 0, c, n), flops, minSeconds));
                    fp32.Add(GigaFlops(() => F.linear(ta, tw).Dispose(), flops, minSeconds));
                    bf16.Add(GigaFlops(() => F.linear(ta16, tw16).Dispose(), flops, minSeconds));
                }
            }
            double[] ratio = [.. ours.Zip(fp32, (x, y) => x / y)];
            rows.Add($"| {name} | {Interleaved.Median(ours):F0} | {Interleaved.Median(fp32):F0} | **{Interleaved.Median(ratio):F2}×** ({ratio.Min():F2}–{ratio.Max():F2}) | {Interleaved.Median(bf16):F0} | {diff:G2} |");
            Console.WriteLine(rows[^1]);
        }
        Console.WriteLine();
        Console.WriteLine("| shape M×N×K | ours GFLOP/s | torch fp32 GFLOP/s | ours / torch fp32 (range) | torch bf16 GFLOP/s (information) | max relative \\|Δ\\| |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|");
        foreach (var row in rows) Console.WriteLine(row);
        return 0;
    }

    private static double GigaFlops(Action call, double flops, double minSeconds)
    {
        call();
        int calls = 0;
        var sw = Stopwatch.StartNew();
        do
        {
            call();
            calls++;
        }
        while (sw.Elapsed.TotalSeconds < minSeconds);
        return flops * calls / sw.Elapsed.TotalSeconds / 1e9;
    }
}
