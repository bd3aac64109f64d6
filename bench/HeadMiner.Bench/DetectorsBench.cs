using System.Diagnostics;
using HeadMiner.Analysis.Detectors;
using HeadMiner.Hooks;
using HeadMiner.Models;

namespace HeadMiner.Bench;

/// <summary>
/// `detectors`: wall time of each head detector (and of one evaluation of its causal task, when it has one) on the
/// random-weight GPT-2-small-shaped checkpoint paired with the real GPT-2 tokenizer (vocab.json + merges.txt from
/// ../shared/models/gpt2-small-attention-only), so the task sets build. Default detector options. One run each, after
/// a warm-up of the first detector (JIT). Options: --detectors a,b (default all).
/// </summary>
public static class DetectorsBench
{
    public static int Run(string[] args)
    {
        string source = BenchModel.Gpt2SmallDirectory();
        string dir = Path.Combine(Path.GetTempPath(), "headminer-bench-gpt2-small-tokenizer");
        Directory.CreateDirectory(dir);
        string tokenizer = Path.Combine(BenchModel.RepoRoot(), "..", "shared", "models", "gpt2-small-attention-only");
        foreach (var file in new[] { "model.safetensors", "config.json" }) File.Copy(Path.Combine(source, file), Path.Combine(dir, file), overwrite: true);
        foreach (var file in new[] { "vocab.json", "merges.txt" }) File.Copy(Path.Combine(tokenizer, file), Path.Combine(dir, file), overwrite: true);
        using var loaded = ModelLoader.Load(dir);
        int at = Array.IndexOf(args, "--detectors");
        var detectors = DetectorRegistry.Parse(at >= 0 && at + 1 < args.Length ? args[at + 1] : null);
        var context = new DetectorContext(loaded.Model, loaded.Tokenizer);
        detectors[0].Run(context); // warm-up
        double total = 0;
        Console.WriteLine($"{"detector",-22} {"run s",8} {"task s",8}  (GPT-2 small shape, random weights, {Environment.ProcessorCount} cores)");
        foreach (var detector in detectors)
        {
            if (detector.CannotRun(context) is { } reason)
            {
                Console.WriteLine($"{detector.Id,-22} skipped: {reason}");
                continue;
            }
            var watch = Stopwatch.StartNew();
            detector.Run(context);
            double run = watch.Elapsed.TotalSeconds;
            string task = "-";
            if (detector is ICausalDetector causal && causal.CausalTask(context) is { } t)
            {
                watch.Restart();
                t.Evaluate(new HookSet(loaded.Model.Config));
                task = watch.Elapsed.TotalSeconds.ToString("0.00", System.Globalization.CultureInfo.InvariantCulture);
            }
            total += run;
            Console.WriteLine($"{detector.Id,-22} {run,8:0.00} {task,8}");
        }
        Console.WriteLine($"{"total (runs)",-22} {total,8:0.00}");
        return 0;
    }
}
