namespace HeadMiner.Bench;

/// <summary>The benchmark names and what runs them. A new benchmark is one file plus one line here.</summary>
public static class BenchRegistry
{
    private static readonly Dictionary<string, (string Description, Func<string[], int> Run)> Benchmarks = new()
    {
        ["gemm"] = ("fp32 GEMM vs OpenBLAS, 1 and 2 threads (--quick: fewer repetitions; --strided-weights: GPT-2's [in, out] weights at their row stride and 64 B longer)", GemmBench.Run),
        ["forward"] = ("GPT-2-small-shaped forward vs PyTorch on the same weights; peak RSS after load", ForwardBench.Run),
        ["patching"] = ("layer × head × position patching sweep: optimised vs naive loop vs PyTorch", PatchingBench.Run),
        ["cache"] = ("full activation cache memory (float32, half) and run-with-cache cost", CacheBench.Run),
        ["ablation"] = ("per-head ablation study: batched heads per forward vs one forward per head", AblationBench.Run),
        ["atlas"] = ("the whole head atlas on a GPT-2-small-shaped random model with the GPT-2 tokenizer (goal ≤ 60 s)", AtlasBench.Run),
        ["detectors"] = ("wall time of every head detector and one causal-task evaluation on a GPT-2-small-shaped random model with the GPT-2 tokenizer", DetectorsBench.Run),
        ["calibrate"] = ("null distributions of every detector on untrained and shuffled-pattern models; writes Analysis/Calibration/null-distribution.json", CalibrateBench.Run),
        ["truth"] = ("precision and recall of every head detector on planted models (known head roles) + labels on untrained models", TruthBench.Run),
        ["decode"] = ("one-row GEMV (KV-cache decode) on a Llama-3.2-1B layer in BF16/F16/F32: bytes of weights per second ÷ measured memory bandwidth", DecodeBench.Run),
        ["bf16"] = ("managed fp32 vs managed bf16-weights vs native bf16-weights fp32-math vs native bf16 dot product: GEMM GFLOP/s and decode GB/s ÷ bandwidth, one run (--quick)", Bf16Bench.Run),
        ["precision"] = ("fp32 vs bf16 arithmetic: logit differences and top-1 agreement (embedded model, random Llama shape), atlas score rank correlation (--skip-atlas)", PrecisionBench.Run),
        ["scale"] = ("load, info, logits, generate, patch sweep, atlas on GPT-2-small and Llama-3.2-1B shapes (BF16): wall time and peak RSS per step, each a child process (--quick)", ScaleBench.Run),
        ["circuits"] = ("ACDC, EAP, EAP-IG on planted circuits (known edges, decoy heads): edge P/R/F1, node P/R, faithfulness, time; ACDC evaluations/s vs full reruns", CircuitsBench.Run),
        ["cluster"] = ("attrib-patch by prompt shards on 1, 2, 3 pinned `headminer worker` processes vs the single-process run: units/s, speed-up, coordination overhead per unit", ClusterBench.Run),
        ["forward-profile"] = ("a model's forward timed, then each of its weight products alone at the same rows (--dir, --precision fp32|bf16, --forwards, --tokens; --after-traffic GIB: after our own forward against after reading GIB elsewhere; --after-free GIB [--wait-ms MS]: after GIB of fresh memory touched and freed against after the wait alone); run under perf for the per-method split", ForwardProfileBench.Run),
        ["train"] = ("training tokens/s vs PyTorch on the same initial weights and batches (embedded and repeats shapes)", TrainBench.Run),
    };

    public static int Run(string[] args)
    {
        if (args.Length == 0 || !Benchmarks.TryGetValue(args[0], out var bench))
        {
            Console.Error.WriteLine("usage: HeadMiner.Bench <benchmark> [options]");
            foreach (var (name, (description, _)) in Benchmarks) Console.Error.WriteLine($"  {name,-10} {description}");
            return args.Length == 0 ? 2 : (Benchmarks.ContainsKey(args[0]) ? 0 : 2);
        }
        return bench.Run(args[1..]);
    }
}
