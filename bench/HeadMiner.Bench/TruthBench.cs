using System.Diagnostics;
using System.Globalization;
using HeadMiner.Analysis.Atlas;
using HeadMiner.Analysis.Calibration;
using HeadMiner.Analysis.Truth;
using HeadMiner.Models;
using HeadMiner.Tensors;
using HeadMiner.Tensors.Kernels;

namespace HeadMiner.Bench;

/// <summary>
/// Ground truth for the head detectors: the atlas on planted models (<see cref="PlantedModels"/>: GPT-2 and Llama
/// skeletons, seeds 1…N each, sizes and placements drawn from the seed) against the heads planted in them — TP, FP,
/// FN, precision and recall per detector, pooled over the models where its type was planted — then the labels the
/// atlas gives to untrained models (<see cref="RandomWeights"/> on GPT-2, GPT-NeoX and Llama configs; should be none).
/// Also <see cref="PlantedIoi"/> circuits (seeds 1…--ioi) and <see cref="PlantedSuccessor"/> models (seeds
/// 1…--successor, odd seeds GPT-2, even Llama) with their word-level tokenizers, which score the IOI and successor
/// detectors. The planted models of <see cref="PlantedModels"/> and the untrained ones run without a tokenizer, so the
/// text and task detectors skip there (listed in the output). Options: --seeds N (12 per skeleton), --ioi N (10), --successor N (8),
/// --random N (7 per architecture), --verbose (each model, its detectors' top scores and its mistakes).
/// </summary>
public static class TruthBench
{
    public static int Run(string[] args)
    {
        int seeds = IntOption(args, "--seeds", 12), random = IntOption(args, "--random", 7), ioi = IntOption(args, "--ioi", 10), successor = IntOption(args, "--successor", 8);
        bool verbose = args.Contains("--verbose");
        var clock = Stopwatch.StartNew();
        var totals = new SortedDictionary<string, TruthCount>(StringComparer.Ordinal);
        var skipped = new SortedSet<string>(StringComparer.Ordinal);
        var mistakes = new List<string>();
        int models = 0;
        var builds = new List<Func<PlantedModel>>();
        foreach (var skeleton in new[] { PlantedSkeleton.Gpt2, PlantedSkeleton.Llama })
            for (ulong seed = 1; seed <= (ulong)seeds; seed++)
            {
                var (k, s) = (skeleton, seed);
                builds.Add(() => PlantedModels.Create(k, s));
            }
        for (ulong seed = 1; seed <= (ulong)ioi; seed++)
        {
            var s = seed;
            builds.Add(() => PlantedIoi.Create(s));
        }
        for (ulong seed = 1; seed <= (ulong)successor; seed++)
        {
            var s = seed;
            builds.Add(() => PlantedSuccessor.Create(s % 2 == 1 ? PlantedSkeleton.Gpt2 : PlantedSkeleton.Llama, s));
        }
        {
            foreach (var build in builds)
            {
                var planted = build();
                var (skeleton, seed) = (planted.Skeleton + " " + planted.Kind, planted.Seed);
                var report = Atlas(planted.Model, planted.Tokenizer, planted.AtlasInfo(), seed);
                models++;
                foreach (var d in report.Detectors.Where(d => d.Status != "ran")) skipped.Add(d.Id);
                if (verbose)
                {
                    Console.WriteLine(planted.Describe());
                    foreach (var d in report.Detectors.Where(d => d.Status == "ran" && d.HeadType is { } t && planted.Types.Contains(t) && d.Scores is not null))
                    {
                        var top = d.Scores!.SelectMany((row, l) => row.Select((v, h) => (l, h, v))).Where(x => x.v is not null).OrderByDescending(x => x.v).Take(5);
                        Console.WriteLine($"    {d.Id} (threshold {d.Threshold:G3}): " + string.Join(", ", top.Select(x => $"L{x.l}H{x.h} {x.v:G3}")));
                    }
                    foreach (var d in report.Detectors.Where(d => d.Status != "ran" && d.Kind == "task" && planted.Tokenizer is not null)) Console.WriteLine($"    {d.Id} {d.Status}: {d.Reason}");
                }
                foreach (var (count, wrong) in TruthScoring.Score(planted, report))
                {
                    totals[count.Detector] = totals.TryGetValue(count.Detector, out var t) ? t + count : count;
                    foreach (var m in wrong)
                    {
                        string line = $"{skeleton} seed {seed}: {count.Detector} {m}";
                        mistakes.Add(line);
                        if (verbose) Console.WriteLine("  " + line);
                    }
                }
            }
        }

        Console.WriteLine($"Ground truth: {models} planted models ({seeds} seeds × GPT-2 and Llama skeletons, {ioi} planted IOI circuits on GPT-2 and {successor} successor models on both skeletons, with word-level tokenizers), atlas with default options, {clock.Elapsed.TotalSeconds:F0} s");
        Console.WriteLine();
        Console.WriteLine("| detector | head type | models where planted | TP | FP | FN | precision | recall |");
        Console.WriteLine("|---|---|---:|---:|---:|---:|---:|---:|");
        foreach (var c in totals.Values.OrderBy(c => Order(c.Detector)))
            Console.WriteLine($"| {c.Detector} | {c.Type} | {c.Models} | {c.TruePositives} | {c.FalsePositives} | {c.FalseNegatives} | {Ratio(c.Precision)} | {Ratio(c.Recall)} |");
        Console.WriteLine();
        Console.WriteLine($"Not scored (no type planted; the text and other task detectors skip: no tokenizer, or the planted vocabularies cannot spell their sets): {string.Join(", ", Analysis.Detectors.DetectorRegistry.Ids.Where(id => !totals.ContainsKey(id)))}");
        if (mistakes.Count > 0)
        {
            Console.WriteLine($"Mistakes ({mistakes.Count}):");
            foreach (var m in mistakes.Take(40)) Console.WriteLine("  " + m);
        }
        bool met = totals.Values.All(c => c.Precision >= 0.95 && c.Recall >= 0.95);
        Console.WriteLine(met ? "every scored detector: precision ≥ 0.95 and recall ≥ 0.95" : "BELOW the 0.95 precision/recall target for some detector");

        Console.WriteLine();
        var labels = new SortedDictionary<string, int>(StringComparer.Ordinal);
        int untrained = 0, labelledModels = 0, heads = 0;
        var perArch = new List<string>();
        foreach (var arch in new[] { "gpt2", "gpt_neox", "llama" })
        {
            int archLabels = 0;
            for (int i = 1; i <= random; i++)
            {
                ulong seed = (ulong)(1000 + i);
                var config = UntrainedConfig(arch, seed);
                var model = new Transformer(config, RandomWeights.Create(config, seed), $"random {arch} {seed}");
                var report = Atlas(model, null, AtlasModel.InMemory(model, $"random-{arch}-{seed}"), seed);
                untrained++;
                heads += config.Layers * config.Heads;
                var counts = TruthScoring.LabelCounts(report);
                if (counts.Count > 0) labelledModels++;
                foreach (var (type, n) in counts)
                {
                    labels[type] = labels.GetValueOrDefault(type) + n;
                    archLabels += n;
                    if (verbose) Console.WriteLine($"  untrained {arch} seed {seed} ({config.Layers}×{config.Heads}, d {config.DModel}): {n} × {type}");
                }
            }
            perArch.Add($"{arch} {archLabels}");
        }
        Console.WriteLine($"Untrained models: {untrained} ({random} each of GPT-2, GPT-NeoX, Llama configs, {heads} heads): {labels.Values.Sum()} labels on {labelledModels} models ({string.Join(", ", perArch)})");
        foreach (var (type, n) in labels) Console.WriteLine($"  {type}: {n}");
        Console.WriteLine($"total {clock.Elapsed.TotalSeconds:F0} s");
        return 0;
    }

    private static AtlasReport Atlas(Transformer model, Models.Tokenizers.ITokenizer? tokenizer, AtlasModel info, ulong seed)
    {
        var options = new AtlasOptions { Detector = new Analysis.Detectors.DetectorOptions { Seed = seed } }.ForContext(model.Config.ContextLength, info.Name);
        return AtlasRunner.Run(model, tokenizer, info, options);
    }

    /// <summary>A small untrained model of one family (the calibration's family configs), sizes drawn from the seed.</summary>
    public static ModelConfig UntrainedConfig(string arch, ulong seed)
    {
        var rng = new SeededRandom(seed * 31 + (ulong)arch.Length);
        int layers = rng.NextInt(2, 5), heads = 4 * rng.NextInt(1, 3), dh = 16 * rng.NextInt(1, 3);
        int vocab = 256 * rng.NextInt(1, 4);
        return NullModels.Config(arch, (layers, heads, heads / 2, heads * dh), vocab, bos: 0, eos: 0, context: 128);
    }

    private static int Order(string id) => Analysis.Detectors.DetectorRegistry.Ids.ToList().IndexOf(id);

    private static string Ratio(double x) => double.IsNaN(x) ? "—" : x.ToString("F3", CultureInfo.InvariantCulture);

    private static int IntOption(string[] args, string name, int fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length && int.TryParse(args[i + 1], out int v) && v > 0 ? v : fallback;
    }
}
