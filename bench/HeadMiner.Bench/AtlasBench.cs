using System.Diagnostics;
using HeadMiner.Analysis.Atlas;
using HeadMiner.Models;

namespace HeadMiner.Bench;

/// <summary>
/// The whole atlas (every detector, causal checks included) on a GPT-2-small-shaped model with random weights and
/// the real GPT-2 tokenizer (vocab.json + merges.txt from ../shared/models/gpt2-small-attention-only), so every
/// detector whose task needs single-token names or years can build it. Goal: ≤ 60 s on 2 cores. Prints the time per
/// detector and the total. Random weights make the scores meaningless; the point is the cost.
/// </summary>
public static class AtlasBench
{
    public static int Run(string[] args)
    {
        string dir = BenchModel.Gpt2SmallDirectory();
        string shared = Path.GetFullPath(Path.Combine(BenchModel.RepoRoot(), "..", "shared", "models", "gpt2-small-attention-only"));
        foreach (var file in new[] { "vocab.json", "merges.txt" })
        {
            string source = Path.Combine(shared, file);
            if (!File.Exists(source))
            {
                Console.Error.WriteLine($"{source} is missing: the atlas bench needs the GPT-2 tokenizer from ../shared");
                return 1;
            }
            if (!File.Exists(Path.Combine(dir, file))) File.Copy(source, Path.Combine(dir, file));
        }
        var load = Stopwatch.StartNew();
        using var loaded = ModelLoader.Load(dir);
        Console.WriteLine($"GPT-2-small-shaped random model + GPT-2 tokenizer loaded in {load.Elapsed.TotalSeconds:F1} s; threads {HeadMiner.Tensors.WorkerPool.MaxThreads}");
        var info = AtlasModel.Of(loaded) with { Name = "gpt2-small-random" };
        var total = Stopwatch.StartNew();
        var atlas = AtlasRunner.Run(loaded.Model, loaded.Tokenizer, info, new AtlasOptions(), new Lines());
        double seconds = total.Elapsed.TotalSeconds;
        Console.WriteLine();
        Console.WriteLine("| detector | status | seconds |");
        Console.WriteLine("|---|---|---:|");
        foreach (var d in atlas.Detectors) Console.WriteLine($"| {d.Id} | {d.Status}{(d.Reason is null ? "" : ": " + d.Reason)} | {d.Seconds:F2} |");
        Console.WriteLine($"| **total (atlas)** | {atlas.Detectors.Count(d => d.Status == "ran")} ran | **{seconds:F1}** |");
        Console.WriteLine(seconds <= 60 ? "within the 60 s goal" : "OVER the 60 s goal");
        return 0;
    }

    private sealed class Lines : IProgress<AtlasProgress>
    {
        public void Report(AtlasProgress p)
        {
            if (p.Phase is "done" or "skipped" or "failed") Console.Error.WriteLine($"[{p.Index + 1}/{p.Count}] {p.DetectorId}: {p.Phase} {p.Seconds:F1} s {p.Detail}");
        }
    }
}
