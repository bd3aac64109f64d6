using System.Diagnostics;
using HeadMiner.Analysis.Patching;
using HeadMiner.Models;
using HeadMiner.Tasks;
using HeadMiner.Tensors;

namespace HeadMiner.Bench;

/// <summary>
/// `patching`: a full layer × head × position sweep of hook_z (12 × 12 × 16 = 2,304 patches) on a GPT-2-small-shaped
/// model, 8 prompt pairs of 16 tokens, logit difference. Our optimised sweep against our naive loop (one full
/// forward per patch, same forward code) in the same run, and against PyTorch running the naive loop.
/// </summary>
public static class PatchingBench
{
    public static int Run(string[] args)
    {
        bool quick = args.Contains("--quick");
        const int pairs = 8, length = 16;
        string dir = BenchModel.Gpt2SmallDirectory();
        using var loaded = ModelLoader.Load(dir);
        var model = loaded.Model;
        var rng = new SeededRandom(7);
        var clean = new int[pairs][];
        var corrupted = new int[pairs][];
        for (int i = 0; i < pairs; i++)
        {
            clean[i] = Enumerable.Range(0, length).Select(_ => rng.NextInt(50257)).ToArray();
            corrupted[i] = (int[])clean[i].Clone();
            corrupted[i][1] = rng.NextInt(50257);
        }
        var tokenized = new TokenizedPairs(clean, corrupted, [.. Enumerable.Range(0, pairs).Select(_ => rng.NextInt(50257))], [.. Enumerable.Range(0, pairs).Select(_ => rng.NextInt(50257))]);
        var target = PatchTarget.Parse("z:pos");
        int cells = model.Config.Layers * model.Config.Heads * length;
        Console.WriteLine($"sweep: hook_z, layer × head × position = {cells} patches; {pairs} pairs × {length} tokens; GPT-2-small shape; {WorkerPool.MaxThreads} threads");

        ActivationPatching.Sweep(model, tokenized, target, MetricKind.LogitDiff); // warm-up (JIT)
        var sw = Stopwatch.StartNew();
        var fast = ActivationPatching.Sweep(model, tokenized, target, MetricKind.LogitDiff);
        double fastSeconds = sw.Elapsed.TotalSeconds;

        double naiveSeconds;
        string naiveNote;
        sw.Restart();
        var naive = ActivationPatching.SweepNaive(model, tokenized, target, MetricKind.LogitDiff);
        naiveSeconds = sw.Elapsed.TotalSeconds;
        naiveNote = "full loop";
        var a = naive.Raw.ToArray();
        var b = fast.Raw.ToArray();
        double maxDiff = a.Zip(b).Max(p => Math.Abs(p.First - p.Second));

        var torch = BenchModel.RunTorch("patching_gpt2.py", "--weights", dir, "--pairs", pairs.ToString(), "--length", length.ToString(), "--sample", quick ? "24" : "96");
        Console.WriteLine();
        Console.WriteLine("| sweep | seconds | vs optimised |");
        Console.WriteLine("|---|---:|---:|");
        Console.WriteLine($"| HeadMiner optimised (resume at layer, reuse prefix K/V, batched) | {fastSeconds:F1} | 1.00× |");
        Console.WriteLine($"| HeadMiner naive loop ({naiveNote}) | {naiveSeconds:F1} | {naiveSeconds / fastSeconds:F2}× |");
        if (torch is { Count: > 0 })
        {
            double perPatch = torch[0].GetProperty("per_patch_ms").GetDouble();
            int timed = torch[0].GetProperty("patches_timed").GetInt32();
            double torchSeconds = perPatch * cells / 1000;
            Console.WriteLine($"| PyTorch {torch[0].GetProperty("torch").GetString()} naive loop ({timed} patches timed × {cells}) | {torchSeconds:F1} | {torchSeconds / fastSeconds:F2}× |");
        }
        Console.WriteLine();
        Console.WriteLine($"optimised vs naive results: max |Δ logit diff| = {maxDiff:G3}");
        return 0;
    }
}
