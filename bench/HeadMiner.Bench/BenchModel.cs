using System.Diagnostics;
using System.Text.Json;
using HeadMiner.Models;
using HeadMiner.Models.Architectures;
using HeadMiner.Models.Formats;
using HeadMiner.Tensors;

namespace HeadMiner.Bench;

/// <summary>What several benchmarks share: the GPT-2-small-shaped checkpoint (random weights, written once) and running the PyTorch scripts.</summary>
public static class BenchModel
{
    /// <summary>A Hugging Face GPT-2 directory with GPT-2 small's shape and seeded random weights, so PyTorch can load the very same weights.</summary>
    public static string Gpt2SmallDirectory()
    {
        string dir = Path.Combine(Path.GetTempPath(), "headminer-bench-gpt2-small");
        string marker = Path.Combine(dir, "seed-1.done");
        if (File.Exists(marker)) return dir;
        Directory.CreateDirectory(dir);
        var config = RandomWeights.Gpt2SmallConfig();
        var weights = RandomWeights.Create(config, seed: 1);
        SafetensorsWriter.Write(Path.Combine(dir, "model.safetensors"), Gpt2Export.Tensors(config, weights));
        AtomicFile.WriteAllText(Path.Combine(dir, "config.json"), Gpt2Export.ConfigJson(config));
        File.WriteAllText(marker, "");
        return dir;
    }

    public static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "HeadMiner.slnx"))) return d.FullName;
        return Directory.GetCurrentDirectory();
    }

    /// <summary>
    /// Runs bench/torch/<paramref name="script"/> with Debian's PyTorch (/usr/bin/python3), OPENBLAS_CORETYPE unset,
    /// and returns its JSON lines; null (after saying why) when PyTorch or the script is absent or fails.
    /// </summary>
    public static List<JsonElement>? RunTorch(string script, params string[] args)
    {
        string path = Path.Combine(RepoRoot(), "bench", "torch", script);
        if (!File.Exists("/usr/bin/python3") || !File.Exists(path))
        {
            Console.WriteLine($"PyTorch reference absent (/usr/bin/python3 with python3-torch, {path}): ours only.");
            return null;
        }
        var psi = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(path);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment.Remove("OPENBLAS_CORETYPE");
        using var p = Process.Start(psi)!;
        var stderrTask = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
        {
            Console.WriteLine($"PyTorch reference failed (exit {p.ExitCode}): {stderrTask.Result.Trim()}");
            return null;
        }
        var lines = new List<JsonElement>();
        foreach (var line in stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            if (line.TrimStart().StartsWith('{')) lines.Add(JsonDocument.Parse(line).RootElement.Clone());
        return lines;
    }

    /// <summary>The median (the mean of the middle two for an even count, as Python's statistics.median); NaN when empty.</summary>
    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        if (sorted.Length == 0) return double.NaN;
        int mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }

    /// <summary>Best and median of <paramref name="repeats"/> timed calls after one warm-up, in milliseconds.</summary>
    public static (double Best, double Median) Time(Action action, int repeats)
    {
        action();
        var times = new List<double>();
        for (int r = 0; r < repeats; r++)
        {
            var sw = Stopwatch.StartNew();
            action();
            times.Add(sw.Elapsed.TotalMilliseconds);
        }
        times.Sort();
        return (times[0], times[times.Count / 2]);
    }

    /// <summary>
    /// Where most of a resident checkpoint is mapped per 4 KiB although the system offers huge pages, the file was
    /// cached that way before this run (written in small chunks, or copied) and stays so until its cache is dropped.
    /// </summary>
    public static string SmallPagesHint(string path, MappingResidency pages)
    {
        const string thp = "/sys/kernel/mm/transparent_hugepage/enabled";
        bool offered = File.Exists(thp) && !File.ReadAllText(thp).Contains("[never]", StringComparison.Ordinal);
        return offered && pages.ResidentBytes > 0 && pages.HugePageBytes < pages.ResidentBytes / 2
            ? $" (mostly 4 KiB pages: the file was cached so before this run; `dd if={path} iflag=nocache count=0` drops its cache, and the next run reads it in 2 MiB pages)"
            : "";
    }
}
