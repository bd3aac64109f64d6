using System.Diagnostics;
using System.Text.Json;
using HeadMiner.Models;
using HeadMiner.Models.Architectures;
using HeadMiner.Models.Formats;
using HeadMiner.Tensors;

namespace HeadMiner.Bench;

/// <summary>
/// `forward`: a GPT-2-small-shaped model (random weights, written once as a Hugging Face checkpoint) run by us and by
/// PyTorch 1.13 on the same weights in the same run, at 1×128, 1×512 and 8×128 tokens; plus peak RSS after loading
/// the checkpoint (measured in a fresh child process) against its size on disk.
/// </summary>
public static class ForwardBench
{
    private static readonly (int Batch, int Length)[] Shapes = [(1, 128), (1, 512), (8, 128)];

    public static int Run(string[] args)
    {
        if (args.Length == 2 && args[0] == "--rss-child") return RssChild(args[1]);
        int repeats = args.Contains("--quick") ? 3 : 10;
        string dir = Path.Combine(Path.GetTempPath(), "headminer-bench-gpt2-small");
        WriteCheckpoint(dir);
        long fileBytes = new FileInfo(Path.Combine(dir, "model.safetensors")).Length;

        Console.WriteLine($"GPT-2-small shape, random weights: {dir} ({fileBytes / 1048576.0:F0} MiB)");
        Console.WriteLine($"threads: ours {WorkerPool.MaxThreads}; torch 1 intra-op thread, OpenBLAS default threads, OPENBLAS_CORETYPE unset");
        var ours = new Dictionary<string, (double Best, double Median)>();
        using (var loaded = ModelLoader.Load(dir))
        {
            foreach (var (b, t) in Shapes)
            {
                var rng = new SeededRandom(42);
                var ids = Enumerable.Range(0, b * t).Select(_ => rng.NextInt(50257)).ToArray();
                var batch = new TokenBatch(ids, b, t);
                loaded.Model.Forward(batch); // warm-up (JIT, page-in)
                var times = new List<double>();
                for (int r = 0; r < repeats; r++)
                {
                    var sw = Stopwatch.StartNew();
                    loaded.Model.Forward(batch);
                    times.Add(sw.Elapsed.TotalMilliseconds);
                }
                times.Sort();
                ours[$"{b}x{t}"] = (times[0], times[times.Count / 2]);
            }
        }
        var torch = RunTorch(dir, repeats);
        Console.WriteLine();
        Console.WriteLine($"| shape | ours best ms | ours median ms | torch best ms | torch median ms | ours/torch (best) |");
        Console.WriteLine($"|---|---:|---:|---:|---:|---:|");
        foreach (var (key, (best, median)) in ours)
        {
            string tb = "-", tm = "-", ratio = "-";
            if (torch.TryGetValue(key, out var t))
            {
                tb = $"{t.Best:F1}";
                tm = $"{t.Median:F1}";
                ratio = $"{best / t.Best:F2}×";
            }
            Console.WriteLine($"| {key} | {best:F1} | {median:F1} | {tb} | {tm} | {ratio} |");
        }
        var rss = MeasureRssInChild(dir);
        Console.WriteLine();
        Console.WriteLine($"peak RSS after loading (fresh process): {rss.AfterLoad / 1048576.0:F0} MiB = {(double)rss.AfterLoad / fileBytes:F2}× the checkpoint ({fileBytes / 1048576.0:F0} MiB); after a 1×128 forward: {rss.AfterForward / 1048576.0:F0} MiB");
        return 0;
    }

    private static void WriteCheckpoint(string dir)
    {
        var config = RandomWeights.Gpt2SmallConfig();
        string marker = Path.Combine(dir, "seed-1.done");
        if (File.Exists(marker)) return;
        Directory.CreateDirectory(dir);
        var weights = RandomWeights.Create(config, seed: 1);
        SafetensorsWriter.Write(Path.Combine(dir, "model.safetensors"), Gpt2Export.Tensors(config, weights));
        AtomicFile.WriteAllText(Path.Combine(dir, "config.json"), Gpt2Export.ConfigJson(config));
        File.WriteAllText(marker, "");
    }

    private static Dictionary<string, (double Best, double Median)> RunTorch(string dir, int repeats)
    {
        var result = new Dictionary<string, (double, double)>();
        string script = Path.Combine(RepoRoot(), "bench", "torch", "forward_gpt2.py");
        if (!File.Exists("/usr/bin/python3") || !File.Exists(script))
        {
            Console.WriteLine("PyTorch reference absent (/usr/bin/python3 with python3-torch, bench/torch/forward_gpt2.py): ours only.");
            return result;
        }
        var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { script, "--weights", dir, "--shapes", string.Join(",", Shapes.Select(s => $"{s.Batch}x{s.Length}")), "--repeats", repeats.ToString() })
            psi.ArgumentList.Add(a);
        psi.Environment.Remove("OPENBLAS_CORETYPE");
        using var p = Process.Start(psi)!;
        string stdout = p.StandardOutput.ReadToEnd();
        string stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
        {
            Console.WriteLine($"PyTorch reference failed (exit {p.ExitCode}): {stderr.Trim()}");
            return result;
        }
        foreach (var line in stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (!line.TrimStart().StartsWith('{')) continue;
            using var doc = JsonDocument.Parse(line);
            var root = doc.RootElement;
            if (!root.TryGetProperty("shape", out var shape)) continue;
            result[shape.GetString()!] = (root.GetProperty("best_ms").GetDouble(), root.GetProperty("median_ms").GetDouble());
            if (root.TryGetProperty("torch", out var version)) Console.WriteLine($"torch {version.GetString()} {shape.GetString()}: done");
        }
        return result;
    }

    private static (long AfterLoad, long AfterForward) MeasureRssInChild(string dir)
    {
        var psi = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true };
        // Re-run this benchmark program (dotnet host + dll, or the apphost) in child mode.
        string entry = typeof(ForwardBench).Assembly.Location;
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath!) == "dotnet") psi.ArgumentList.Add(entry);
        psi.ArgumentList.Add("forward");
        psi.ArgumentList.Add("--rss-child");
        psi.ArgumentList.Add(dir);
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

    /// <summary>VmHWM: the process's peak resident set, in bytes.</summary>
    private static long PeakRss()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
        return 0;
    }

    internal static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "HeadMiner.slnx"))) return d.FullName;
        return Directory.GetCurrentDirectory();
    }
}
