using HeadMiner.Hooks;
using HeadMiner.Models;
using HeadMiner.Tensors;

namespace HeadMiner.Bench;

/// <summary>
/// `cache`: memory of a full activation cache (TransformerLens's default hook set) for 1×128 tokens on the
/// GPT-2-small shape, in float32 and half precision, and the cost of run-with-cache against a plain forward.
/// The reference, 104.6 MiB, is PyTorch storing TransformerLens's hook set for the same input (measured for the issue).
/// </summary>
public static class CacheBench
{
    private const double TorchTransformerLensMiB = 104.6;

    public static int Run(string[] args)
    {
        int repeats = args.Contains("--quick") ? 3 : 10;
        using var loaded = ModelLoader.Load(BenchModel.Gpt2SmallDirectory());
        var model = loaded.Model;
        var rng = new SeededRandom(3);
        var batch = TokenBatch.Single(Enumerable.Range(0, 128).Select(_ => rng.NextInt(50257)).ToArray());

        var (_, full) = model.RunWithCache(batch, CacheFilter.All());
        var (_, half) = model.RunWithCache(batch, CacheFilter.All() with { HalfPrecision = true });
        double fullMiB = full.Bytes / 1048576.0, halfMiB = half.Bytes / 1048576.0;
        var plain = BenchModel.Time(() => model.Forward(batch), repeats);
        var cached = BenchModel.Time(() => model.RunWithCache(batch, CacheFilter.All()), repeats);
        var cachedHalf = BenchModel.Time(() => model.RunWithCache(batch, CacheFilter.All() with { HalfPrecision = true }), repeats);

        Console.WriteLine($"full cache, 1×128 tokens, GPT-2-small shape: {full.Names.Count} hook points");
        Console.WriteLine();
        Console.WriteLine("| cache | MiB | vs PyTorch+TransformerLens (104.6 MiB) |");
        Console.WriteLine("|---|---:|---:|");
        Console.WriteLine($"| float32 | {fullMiB:F1} | {fullMiB / TorchTransformerLensMiB:F2}× |");
        Console.WriteLine($"| half | {halfMiB:F1} | {halfMiB / TorchTransformerLensMiB:F2}× |");
        Console.WriteLine();
        Console.WriteLine("| run | best ms | median ms | vs plain forward (best) |");
        Console.WriteLine("|---|---:|---:|---:|");
        Console.WriteLine($"| plain forward | {plain.Best:F1} | {plain.Median:F1} | 1.00× |");
        Console.WriteLine($"| run with full cache (float32) | {cached.Best:F1} | {cached.Median:F1} | {cached.Best / plain.Best:F2}× |");
        Console.WriteLine($"| run with full cache (half) | {cachedHalf.Best:F1} | {cachedHalf.Median:F1} | {cachedHalf.Best / plain.Best:F2}× |");
        return 0;
    }
}
