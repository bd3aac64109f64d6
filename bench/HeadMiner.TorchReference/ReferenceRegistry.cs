using HeadMiner.Tensors;
using TorchSharp;

namespace HeadMiner.TorchReference;

/// <summary>The reference comparisons and what runs them. Threads: 2 on both sides unless --threads N.</summary>
public static class ReferenceRegistry
{
    private static readonly Dictionary<string, (string Description, Func<string[], int> Run)> Comparisons = new()
    {
        ["forward"] = ("GPT-2-small forward fp32 (eager and SDPA) at 1×128, 1×512, 8×128, 1×1024; Llama-3.2-1B shape at 1×128, torch fp32 and bf16; logits compared", ForwardReference.Run),
        ["gemm"] = ("float32 GEMM GFLOP/s on the layers' shapes (torch bf16 for information)", GemmReference.Run),
        ["patching"] = ("z-patching sweep (layer × head × position) vs the LibTorch patching loop", PatchingReference.Run),
        ["train"] = ("one training step of the embedded model vs LibTorch autograd + AdamW, same weights and batches", TrainReference.Run),
    };

    public static int Run(string[] args)
    {
        if (args.Length == 0 || (args[0] != "all" && !Comparisons.ContainsKey(args[0])))
        {
            Console.Error.WriteLine("usage: HeadMiner.TorchReference <comparison|all> [--quick] [--threads N]");
            foreach (var (name, (description, _)) in Comparisons) Console.Error.WriteLine($"  {name,-9} {description}");
            return 2;
        }
        int threads = 2;
        int at = Array.IndexOf(args, "--threads");
        if (at >= 0 && (at + 1 >= args.Length || !int.TryParse(args[at + 1], out threads) || threads < 1))
        {
            Console.Error.WriteLine("--threads needs a positive integer");
            return 2;
        }
        WorkerPool.MaxThreads = threads;
        torch.set_num_threads(threads);
        Console.WriteLine($"LibTorch {torch.__version__} (TorchSharp) in this process; {threads} threads each side; inference mode for forwards; "
            + $"LD_PRELOAD={Environment.GetEnvironmentVariable("LD_PRELOAD") ?? "(none)"}; OPENBLAS_CORETYPE={Environment.GetEnvironmentVariable("OPENBLAS_CORETYPE") ?? "(unset)"}; "
            + $"THP_MEM_ALLOC_ENABLE={Environment.GetEnvironmentVariable("THP_MEM_ALLOC_ENABLE") ?? "(unset)"}; "
            + $"load average {(File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "unknown")}; {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
        var names = args[0] == "all" ? Comparisons.Keys.ToArray() : [args[0]];
        int rc = 0;
        foreach (string name in names)
        {
            Console.WriteLine();
            Console.WriteLine($"## {name}");
            rc = Math.Max(rc, Comparisons[name].Run(args[1..]));
        }
        return rc;
    }
}
