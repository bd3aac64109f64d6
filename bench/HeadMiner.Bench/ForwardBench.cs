using System.Diagnostics;
using HeadMiner.Models;
using HeadMiner.Tensors;

namespace HeadMiner.Bench;

/// <summary>
/// `forward`: a GPT-2-small-shaped model (random weights, written once as a Hugging Face checkpoint) run by us and by
/// PyTorch 1.13 on the same weights in the same run, at 1×128, 1×512 and 8×128 tokens (logits at every position);
/// plus peak RSS after loading the checkpoint (measured in a fresh child process) against its size on disk.
/// </summary>
public static class ForwardBench
{
    private static readonly (int Batch, int Length)[] Shapes = [(1, 128), (1, 512), (8, 128)];

    public static int Run(string[] args)
    {
        if (args.Length == 2 && args[0] == "--rss-child") return RssChild(args[1]);
        int repeats = args.Contains("--quick") ? 3 : 10;
        string dir = BenchModel.Gpt2SmallDirectory();
        long fileBytes = new FileInfo(Path.Combine(dir, "model.safetensors")).Length;
        Console.WriteLine($"GPT-2-small shape, random weights: {dir} ({fileBytes / 1048576.0:F0} MiB)");
        Console.WriteLine($"ours: {WorkerPool.MaxThreads} threads; torch: 1 intra-op thread, OpenBLAS default threads, OPENBLAS_CORETYPE unset");

        var ours = new Dictionary<string, (double Best, double Median)>();
        using (var loaded = ModelLoader.Load(dir))
        {
            foreach (var (b, t) in Shapes)
            {
                var rng = new SeededRandom(42);
                var batch = new TokenBatch(Enumerable.Range(0, b * t).Select(_ => rng.NextInt(50257)).ToArray(), b, t);
                ours[$"{b}x{t}"] = BenchModel.Time(() => loaded.Model.Forward(batch), repeats);
            }
        }
        var torch = BenchModel.RunTorch("forward_gpt2.py", "--weights", dir, "--shapes", string.Join(",", Shapes.Select(s => $"{s.Batch}x{s.Length}")), "--repeats", repeats.ToString());
        Console.WriteLine();
        Console.WriteLine("| shape | ours best ms | ours median ms | torch best ms | torch median ms | ours / torch (best) |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|");
        foreach (var (key, (best, median)) in ours)
        {
            var t = torch?.FirstOrDefault(e => e.GetProperty("shape").GetString() == key);
            string tb = "-", tm = "-", ratio = "-";
            if (t is { } found && found.ValueKind != System.Text.Json.JsonValueKind.Undefined)
            {
                double torchBest = found.GetProperty("best_ms").GetDouble();
                tb = $"{torchBest:F1}";
                tm = $"{found.GetProperty("median_ms").GetDouble():F1}";
                ratio = $"{best / torchBest:F2}×";
            }
            Console.WriteLine($"| {key} | {best:F1} | {median:F1} | {tb} | {tm} | {ratio} |");
        }
        var (afterLoad, afterForward) = MeasureRssInChild(dir);
        Console.WriteLine();
        Console.WriteLine($"peak RSS after loading (fresh process): {afterLoad / 1048576.0:F0} MiB = {(double)afterLoad / fileBytes:F2}× the checkpoint ({fileBytes / 1048576.0:F0} MiB); after a 1×128 forward: {afterForward / 1048576.0:F0} MiB");
        return 0;
    }

    private static (long AfterLoad, long AfterForward) MeasureRssInChild(string dir)
    {
        var psi = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true };
        // Under `dotnet run` the process is the dotnet host and the benchmark is a dll argument.
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath!) == "dotnet") psi.ArgumentList.Add(typeof(ForwardBench).Assembly.Location);
        foreach (var a in new[] { "forward", "--rss-child", dir }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var parts = p.StandardOutput.ReadToEnd().Trim().Split(' ');
        p.WaitForExit();
        return (long.Parse(parts[0]), long.Parse(parts[1]));
    }

    private static int RssChild(string dir)
    {
        using var loaded = ModelLoader.Load(dir);
        long afterLoad = PeakRss();
        loaded.Model.Forward(TokenBatch.Single(Enumerable.Range(0, 128).ToArray()));
        Console.WriteLine($"{afterLoad} {PeakRss()}");
        return 0;
    }

    /// <summary>VmHWM: the process's peak resident set, in bytes (0 where the system does not report it).</summary>
    internal static long PeakRss() => HeadMiner.Tensors.ResidentMemory.PeakBytes() ?? 0;
}
