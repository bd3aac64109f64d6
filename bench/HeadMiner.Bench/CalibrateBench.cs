using System.Diagnostics;
using System.Globalization;
using HeadMiner.Analysis.Calibration;
using HeadMiner.Analysis.Detectors;
using HeadMiner.Models.Tokenizers;

namespace HeadMiner.Bench;

/// <summary>
/// Measures every detector's null distribution (docs/DETECTORS.md, "Calibration"): untrained GPT-2-, NeoX- and
/// Llama-style models with the GPT-2, stories260K and embedded toy tokenizers, and the embedded and stories260K models
/// with shuffled attention rows. Writes src/HeadMiner/Analysis/Calibration/null-distribution.json (atomically) and prints
/// per detector the null heads, max, 99th/99.9th percentiles, the current threshold, its measured false-positive
/// rate, and the calibrated threshold max(current, score at α).
/// Options: --seeds N (default 3), --out PATH, --no-write, --detectors LIST; --kind untrained|shuffled (a part of the
/// null set, for a look; not for the committed table); --reformat rewrites the stored table
/// (--out) in the current format and prints it, measuring nothing.
/// </summary>
public static class CalibrateBench
{
    public static int Run(string[] args)
    {
        int seeds = 3;
        string root = BenchModel.RepoRoot();
        string output = Path.Combine(root, "src", "HeadMiner", "Analysis", "Calibration", "null-distribution.json");
        bool write = true;
        string? detectorList = null, kind = null;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--seeds": seeds = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--out": output = Path.GetFullPath(args[++i]); break;
                case "--no-write": write = false; break;
                case "--detectors": detectorList = args[++i]; break;
                case "--kind": kind = args[++i]; break;
                case "--reformat":
                    // Rewrites the stored table in the current JSON format without measuring again.
                    var stored = NullDistribution.Read(output);
                    stored.Write(output);
                    Print(stored, DetectorRegistry.All);
                    Console.WriteLine($"rewrote {output}");
                    return 0;
                default: Console.Error.WriteLine($"calibrate: unknown option {args[i]}"); return 2;
            }
        }
        string shared = Path.GetFullPath(Path.Combine(root, "..", "shared", "models"));
        string gpt2 = Path.Combine(shared, "gpt2-small-attention-only"), stories = Path.Combine(shared, "stories260K");
        string embedded = Path.Combine(root, "models", "embedded");
        foreach (var dir in new[] { gpt2, stories, embedded })
        {
            if (!TokenizerLoader.HasTokenizer(dir))
            {
                Console.Error.WriteLine($"{dir} is missing: calibrate needs the GPT-2 and stories260K tokenizers from ../shared and models/embedded");
                return 1;
            }
        }
        var embeddedHints = AnalysisHints.Load(embedded, TokenizerLoader.Load(embedded).VocabSize);
        var tokenizers = new List<NullTokenizer>
        {
            new("gpt2", TokenizerLoader.Load(gpt2)),
            new("stories260K", TokenizerLoader.Load(stories)),
            new("embedded", TokenizerLoader.Load(embedded), embeddedHints?.PromptTokens()),
        };
        var models = NullModels.Default(tokenizers, [("embedded", embedded), ("stories260K", Path.Combine(stories, "stories260K.bin"))], seeds);
        if (kind is not null) models = [.. models.Where(m => m.Kind == kind)];
        var detectors = DetectorRegistry.Parse(detectorList);
        Console.WriteLine($"{models.Count} null models, {detectors.Count} detectors; threads {HeadMiner.Tensors.WorkerPool.MaxThreads}");
        var clock = Stopwatch.StartNew();
        var table = NullCalibrator.Run(models, new DetectorOptions(), detectors, line => Console.Error.WriteLine(line));
        Console.WriteLine($"measured in {clock.Elapsed.TotalSeconds:F0} s");
        Print(table, detectors);
        if (write)
        {
            table.Write(output);
            Console.WriteLine($"wrote {output} ({new FileInfo(output).Length / 1024} KiB)");
        }
        return 0;
    }

    public static void Print(NullDistribution table, IReadOnlyList<IHeadDetector> detectors)
    {
        var inv = CultureInfo.InvariantCulture;
        Console.WriteLine();
        Console.WriteLine($"| detector | null heads | models | max | p99 | p99.9 | threshold now | null ≥ threshold (FPR) | score at α = {NullDistribution.Alpha} | max(threshold, score at α) |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var d in detectors)
        {
            var e = table.Find(d.Id);
            if (e is null || e.Scores.Length == 0)
            {
                Console.WriteLine($"| {d.Id} | 0 | 0 | | | | | | |");
                continue;
            }
            int n = e.Scores.Length;
            string thresholds = string.Join(" / ", e.Thresholds.Select(t => t.ToString("0.###", inv)));
            double t0 = e.Thresholds.Min();
            int above = e.Scores.Count(s => s >= t0);
            string rel = e.RelativeMax is double r ? $" ({r:0.00}× baseline)" : "";
            string at = table.ScoreAtRate(d.Id, NullDistribution.Alpha) is double a ? a.ToString("0.0000", inv) : $"n/a (> max {e.Scores[^1]:0.0000})";
            // The calibration rule (docs/DETECTORS.md): above every null head when n < 1/α; relative thresholds are read in baseline units.
            double floor = table.ScoreAtRate(d.Id, NullDistribution.Alpha) ?? e.Scores[^1];
            string calibrated = Math.Max(t0, floor).ToString("0.####", inv) + (e.RelativeMax is not null ? " (raw; compare in baseline units)" : "");
            Console.WriteLine(string.Create(inv, $"| {d.Id} | {n} | {e.Models} | {e.Scores[^1]:0.0000}{rel} | {table.Quantile(d.Id, 0.99):0.0000} | {table.Quantile(d.Id, 0.999):0.0000} | {thresholds} | {above}/{n} ({table.FalsePositiveRate(d.Id, t0):0.0000}) | {at} | {calibrated} |"));
        }
    }
}
