using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using HeadMiner.Models;
using HeadMiner.Models.Formats;
using HeadMiner.Tasks.Synthetic;
using HeadMiner.Tensors;
using HeadMiner.Tensors.Autodiff;
using HeadMiner.Training;

namespace HeadMiner.Bench;

/// <summary>
/// `train`: training tokens/s of <see cref="Gpt2TrainingModel"/> (the <see cref="Trainer"/>'s step: zero gradients,
/// loss and backward on a tape, global-norm clipping, AdamW at the warm-up + cosine rate) against PyTorch training the
/// same model (bench/torch/train_gpt2.py, torch.optim.AdamW and clip_grad_norm_) in the same run. "Same" is literal:
/// the C# model's initial weights are exported as a Hugging Face GPT-2 directory PyTorch loads, and the token batches
/// we train on are written to a file PyTorch reads, so both do the same arithmetic; the first losses are compared
/// (they must agree to 1e-4) before the throughput is believed.
/// <para>
/// Shapes: "embedded" (the planned embedded model, docs/EMBEDDED-MODEL.md: GPT-2 architecture, 3 layers × 4 heads,
/// d_model 128, d_mlp 512, the toy language's 349-token vocabulary, context 256; 16 sequences × 128 tokens, the
/// trainer's default hyperparameters) and "repeats" (<see cref="TrainingPreset.Repeats"/> as is). Data generation is
/// done before timing on both sides (the Trainer makes each batch inside its step; that cost is printed apart).
/// </para>
/// </summary>
public static class TrainBench
{
    private const double LossTolerance = 1e-4;
    private const int ReportedLosses = 3;

    private sealed record Shape(string Name, ModelConfig Config, SequenceGenerator Data, TrainingOptions Options);

    private sealed record Settings(string[] Shapes, int Warmup, int? Steps, int Repeats, int TorchThreads, string TorchForeach, Dictionary<string, int> Overrides);

    private sealed record OursResult(long Parameters, long DecayedParameters, float[] Losses, double[] TokensPerSecond, double ForwardMs, double BackwardMs, double OptimizerMs, double AllocatedBytesPerStep, int[] Collections, double DataMsPerBatch, double CpuMsPerStep);

    public static int Run(string[] args)
    {
        Settings settings;
        try
        {
            settings = Parse(args);
        }
        catch (FormatException e)
        {
            Console.Error.WriteLine($"train: {e.Message}");
            Console.Error.WriteLine("usage: train [--quick] [--shape embedded|repeats|all] [--warmup N] [--steps N] [--repeats N] [--layers N] [--heads N] [--d-model N] [--d-mlp N] [--batch N] [--length N] [--torch-threads N] [--torch-foreach default|on|off]");
            return 2;
        }
        var shapes = new List<Shape>();
        foreach (string name in settings.Shapes)
        {
            try
            {
                shapes.Add(Apply(MakeShape(name), settings.Overrides));
            }
            catch (FormatException e)
            {
                Console.Error.WriteLine($"train: {e.Message}");
                return 2;
            }
        }
        Console.WriteLine($"ours: {WorkerPool.MaxThreads} threads; torch: {settings.TorchThreads} intra-op thread(s), OpenBLAS default threads, OPENBLAS_CORETYPE unset, AdamW foreach {settings.TorchForeach}");
        var rows = new List<string>();
        var phaseRows = new List<string>();
        bool agreed = true;
        foreach (var shape in shapes) agreed &= RunShape(shape, settings, rows, phaseRows);
        Console.WriteLine();
        Console.WriteLine("| shape | tokens/step | ours tok/s median | ours best | torch tok/s median | torch best | ours / torch (median) |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
        foreach (var row in rows) Console.WriteLine(row);
        Console.WriteLine();
        Console.WriteLine("| shape | ours fwd / bwd / opt ms | torch fwd / bwd / opt ms | ours allocated per step | ours GCs gen0/1/2 (timed steps) | ours CPU ms/step (all threads) | data generation ms/batch (untimed) |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
        foreach (var row in phaseRows) Console.WriteLine(row);
        if (!agreed) Console.WriteLine($"\nLOSSES OR PARAMETER GROUPS DISAGREE (losses beyond {LossTolerance:G}): the two sides did not do the same arithmetic; the ratios above are not comparable.");
        return agreed ? 0 : 1;
    }

    /// <summary>
    /// Defaults: 10 warm-up steps (tiered JIT promotes a method after 30 calls, and the per-layer kernels run only a few
    /// times per step), 5 repeats, --quick: 2 warm-up steps and 2 repeats of 3 steps (a smoke run, not a measurement).
    /// </summary>
    private static Settings Parse(string[] args)
    {
        bool quick = false;
        string shape = "all";
        int? warmup = null, steps = null, repeats = null;
        int torchThreads = 1;
        string foreachMode = "default";
        var overrides = new Dictionary<string, int>();
        string[] overrideNames = ["--layers", "--heads", "--d-model", "--d-mlp", "--batch", "--length"];
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            string Value() => i + 1 < args.Length ? args[++i] : throw new FormatException($"{a} needs a value");
            int Positive()
            {
                string v = Value();
                return int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n > 0 ? n : throw new FormatException($"{a} needs a positive integer, got '{v}'");
            }
            switch (a)
            {
                case "--quick": quick = true; break;
                case "--shape": shape = Value(); break;
                case "--warmup": warmup = Positive(); break;
                case "--steps": steps = Positive(); break;
                case "--repeats": repeats = Positive(); break;
                case "--torch-threads": torchThreads = Positive(); break;
                case "--torch-foreach":
                    foreachMode = Value();
                    if (foreachMode is not ("default" or "on" or "off")) throw new FormatException($"--torch-foreach is default, on or off, got '{foreachMode}'");
                    break;
                default:
                    if (!overrideNames.Contains(a)) throw new FormatException($"unknown option '{a}'");
                    overrides[a[2..]] = Positive();
                    break;
            }
        }
        string[] shapes = shape switch
        {
            "all" => ["embedded", "repeats"],
            "embedded" or "repeats" => [shape],
            _ => throw new FormatException($"--shape is embedded, repeats or all, got '{shape}'"),
        };
        return new Settings(shapes, warmup ?? (quick ? 2 : 10), steps ?? (quick ? 3 : null), repeats ?? (quick ? 2 : 5), torchThreads, foreachMode, overrides);
    }

    private static Shape MakeShape(string name)
    {
        if (name == "repeats")
        {
            var preset = TrainingPreset.Repeats;
            return new Shape(name, preset.Config, preset.Data(), preset.Options);
        }
        var toy = new ToyLanguage();
        const int d = 128, layers = 3, heads = 4;
        var config = new ModelConfig
        {
            Architecture = "gpt2",
            VocabSize = toy.VocabularySize,
            DModel = d,
            Layers = layers,
            Heads = heads,
            KvHeads = heads,
            DHead = d / heads,
            DMlp = 512,
            ContextLength = 256,
            Norm = NormKind.LayerNorm,
            NormEps = 1e-5f,
            Activation = MlpActivation.GeluTanh,
            LearnedPositions = true,
            AttentionScale = 1f / MathF.Sqrt(d / heads),
            AttentionWindow = new int[layers],
            TiedEmbeddings = true,
            BosTokenId = ToyVocabulary.Bos,
        };
        return new Shape(name, config, toy, new TrainingOptions { BatchSequences = 16, SequenceLength = 128 });
    }

    /// <summary>The command line's shape overrides (--layers, --heads, --d-model, --d-mlp, --batch, --length) on a base shape.</summary>
    private static Shape Apply(Shape s, Dictionary<string, int> o)
    {
        if (o.Count == 0) return s;
        int layers = o.GetValueOrDefault("layers", s.Config.Layers), heads = o.GetValueOrDefault("heads", s.Config.Heads);
        int d = o.GetValueOrDefault("d-model", s.Config.DModel), length = o.GetValueOrDefault("length", s.Options.SequenceLength);
        if (d % heads != 0) throw new FormatException($"--d-model {d} is not a multiple of --heads {heads}");
        if (length < 2) throw new FormatException($"--length must be at least 2, got {length}");
        var config = s.Config with
        {
            Layers = layers,
            Heads = heads,
            KvHeads = heads,
            DModel = d,
            DHead = d / heads,
            DMlp = o.GetValueOrDefault("d-mlp", s.Config.DMlp),
            ContextLength = Math.Max(s.Config.ContextLength, length),
            AttentionScale = 1f / MathF.Sqrt(d / heads),
            AttentionWindow = new int[layers],
        };
        string name = s.Name + "*" + string.Concat(o.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $" {kv.Key} {kv.Value}"));
        return new Shape(name, config, s.Data, s.Options with { SequenceLength = length, BatchSequences = o.GetValueOrDefault("batch", s.Options.BatchSequences) });
    }

    private static bool RunShape(Shape shape, Settings settings, List<string> rows, List<string> phaseRows)
    {
        var c = shape.Config;
        var options = shape.Options;
        int b = options.BatchSequences, t = options.SequenceLength, tokensPerStep = b * t;
        // Default: about 64 Ki tokens per timed repeat, so small shapes are not timed over a millisecond or two.
        int steps = settings.Steps ?? Math.Max(10, (65536 + tokensPerStep - 1) / tokensPerStep);
        int total = settings.Warmup + steps * settings.Repeats;
        Console.WriteLine();
        Console.WriteLine($"{shape.Name}: {c.Layers} layers × {c.Heads} heads, d_model {c.DModel}, d_mlp {c.DMlp}, vocabulary {c.VocabSize}, context {c.ContextLength}; "
            + $"{b} × {t} tokens per step; peak lr {options.PeakLearningRate:G}, warm-up {options.WarmupSteps} of {options.Steps} steps, weight decay {options.WeightDecay:G}, clip {options.ClipNorm:G}; "
            + $"{settings.Warmup} warm-up + {settings.Repeats} × {steps} timed steps");

        var model = new Gpt2TrainingModel(c, options.Seed);
        string dir = Path.Combine(Path.GetTempPath(), $"headminer-bench-train-{Environment.ProcessId}-{shape.Name.Split('*')[0]}");
        Directory.CreateDirectory(dir);
        var (tensors, configJson) = model.Export();
        SafetensorsWriter.Write(Path.Combine(dir, "model.safetensors"), tensors);
        AtomicFile.WriteAllText(Path.Combine(dir, "config.json"), configJson);

        // The batches the Trainer would draw for steps 0 … total − 1 (same seeds), made before timing.
        var sw = Stopwatch.StartNew();
        var batches = new int[total][];
        for (int step = 0; step < total; step++)
        {
            var sequences = shape.Data.Generate(b, t + 1, options.Seed * 0x9E3779B97F4A7C15UL + (ulong)step).Tokens;
            batches[step] = new int[b * (t + 1)];
            for (int s = 0; s < b; s++) sequences[s].CopyTo(batches[step], s * (t + 1));
        }
        double dataMsPerBatch = sw.Elapsed.TotalMilliseconds / total;
        string tokensPath = Path.Combine(dir, "tokens.i32");
        AtomicFile.Write(tokensPath, stream =>
        {
            foreach (var batch in batches) stream.Write(MemoryMarshal.AsBytes(batch.AsSpan())); // little-endian int32 (x64/arm64)
        });

        try
        {
            var ours = TrainOurs(model, options, batches, b, t, settings.Warmup, steps, settings.Repeats);
            ours = ours with { DataMsPerBatch = dataMsPerBatch };
            var torchLines = BenchModel.RunTorch("train_gpt2.py", "--weights", dir, "--tokens", tokensPath,
                "--batch", b.ToString(CultureInfo.InvariantCulture), "--length", t.ToString(CultureInfo.InvariantCulture),
                "--warmup", settings.Warmup.ToString(CultureInfo.InvariantCulture), "--steps", steps.ToString(CultureInfo.InvariantCulture),
                "--repeats", settings.Repeats.ToString(CultureInfo.InvariantCulture), "--report-losses", ReportedLosses.ToString(CultureInfo.InvariantCulture),
                "--lr", options.PeakLearningRate.ToString("R", CultureInfo.InvariantCulture), "--lr-warmup", options.WarmupSteps.ToString(CultureInfo.InvariantCulture),
                "--lr-total", options.Steps.ToString(CultureInfo.InvariantCulture), "--min-lr-ratio", options.MinLearningRateRatio.ToString("R", CultureInfo.InvariantCulture),
                "--weight-decay", options.WeightDecay.ToString("R", CultureInfo.InvariantCulture), "--clip", options.ClipNorm.ToString("R", CultureInfo.InvariantCulture),
                "--threads", settings.TorchThreads.ToString(CultureInfo.InvariantCulture), "--foreach", settings.TorchForeach);
            return Report(shape.Name, tokensPerStep, ours, torchLines is { Count: > 0 } ? torchLines[0] : null, rows, phaseRows);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>The Trainer's step on pre-made batches, timed per phase; the allocation and GC counts cover the timed steps.</summary>
    private static OursResult TrainOurs(Gpt2TrainingModel model, TrainingOptions options, int[][] batches, int b, int t, int warmup, int steps, int repeats)
    {
        var optimizer = new AdamW(model.TrainableParameters(), weightDecay: options.WeightDecay);
        var schedule = new LearningRateSchedule(options.PeakLearningRate, options.WarmupSteps, options.Steps, options.MinLearningRateRatio);
        var inputs = new int[batches.Length][];
        var targets = new int[batches.Length][];
        for (int step = 0; step < batches.Length; step++)
        {
            inputs[step] = new int[b * t];
            targets[step] = new int[b * t];
            for (int s = 0; s < b; s++)
            {
                batches[step].AsSpan(s * (t + 1), t).CopyTo(inputs[step].AsSpan(s * t, t));
                batches[step].AsSpan(s * (t + 1) + 1, t).CopyTo(targets[step].AsSpan(s * t, t));
            }
        }
        var losses = new float[batches.Length];
        var arena = new TensorArena(); // as the Trainer: one step's buffers, recycled
        var forward = new List<double>();
        var backward = new List<double>();
        var update = new List<double>();
        var repeatSeconds = new double[repeats];
        long allocatedBefore = 0;
        TimeSpan cpuBefore = default;
        int[] gcBefore = new int[3];
        for (int step = 0; step < batches.Length; step++)
        {
            if (step == warmup)
            {
                allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
                cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
                for (int g = 0; g < 3; g++) gcBefore[g] = GC.CollectionCount(g);
            }
            long t0 = Stopwatch.GetTimestamp();
            model.ZeroGradients();
            arena.Reset();
            var tape = new Tape(arena);
            var loss = model.Loss(tape, inputs[step], b, t, targets[step]);
            long t1 = Stopwatch.GetTimestamp();
            tape.Backward(loss);
            long t2 = Stopwatch.GetTimestamp();
            double norm = GradientClipping.ClipGlobalNorm(optimizer.Parameters, options.ClipNorm);
            double lr = schedule.At(step);
            if (double.IsFinite(norm)) optimizer.Step(lr);
            long t3 = Stopwatch.GetTimestamp();
            losses[step] = loss.Value.Span[0];
            if (step < warmup) continue;
            forward.Add(Stopwatch.GetElapsedTime(t0, t1).TotalMilliseconds);
            backward.Add(Stopwatch.GetElapsedTime(t1, t2).TotalMilliseconds);
            update.Add(Stopwatch.GetElapsedTime(t2, t3).TotalMilliseconds);
            repeatSeconds[(step - warmup) / steps] += Stopwatch.GetElapsedTime(t0, t3).TotalSeconds;
        }
        double allocated = (GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore) / (double)(steps * repeats);
        // CPU time of the whole process (every thread, spinning workers and the GC included): on a shared machine it
        // moves much less with the load than the wall-clock phases do.
        double cpuMs = (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalMilliseconds / (steps * repeats);
        int[] collections = [.. Enumerable.Range(0, 3).Select(g => GC.CollectionCount(g) - gcBefore[g])];
        double[] tokensPerSecond = [.. repeatSeconds.Select(s => (double)b * t * steps / s)];
        long decayed = optimizer.Parameters.Where(p => p.Decay).Sum(p => (long)p.Value.Length);
        return new OursResult(model.ParameterCount, decayed, losses, tokensPerSecond, BenchModel.Median(forward), BenchModel.Median(backward), BenchModel.Median(update), allocated, collections, 0, cpuMs);
    }

    private static bool Report(string name, int tokensPerStep, OursResult ours, JsonElement? torch, List<string> rows, List<string> phaseRows)
    {
        double oursMedian = BenchModel.Median(ours.TokensPerSecond), oursBest = ours.TokensPerSecond.Max();
        string ourLosses = string.Join(", ", ours.Losses.Take(ReportedLosses).Select(l => l.ToString("F6", CultureInfo.InvariantCulture)));
        Console.WriteLine($"  ours:  losses of the first steps {ourLosses}; last {ours.Losses[^1]:F4}; tokens/s per repeat {string.Join(", ", ours.TokensPerSecond.Select(x => x.ToString("F0", CultureInfo.InvariantCulture)))}");
        string torchMedian = "-", torchBest = "-", ratio = "-", torchPhases = "-";
        bool agreed = true;
        if (torch is { } j)
        {
            double[] torchLosses = [.. j.GetProperty("losses").EnumerateArray().Select(e => e.GetDouble())];
            Console.WriteLine($"  torch: losses of the first steps {string.Join(", ", torchLosses.Select(l => l.ToString("F6", CultureInfo.InvariantCulture)))}; last {j.GetProperty("last_loss").GetDouble():F4}; "
                + $"tokens/s per repeat {string.Join(", ", j.GetProperty("tokens_per_s").EnumerateArray().Select(e => e.GetDouble().ToString("F0", CultureInfo.InvariantCulture)))}");
            double maxDiff = torchLosses.Select((l, i) => Math.Abs(l - ours.Losses[i])).Max();
            long parameters = j.GetProperty("parameters").GetInt64(), decayed = j.GetProperty("decayed_parameters").GetInt64();
            bool sameGroups = parameters == ours.Parameters && decayed == ours.DecayedParameters;
            agreed = maxDiff <= LossTolerance && sameGroups;
            Console.WriteLine($"  first {torchLosses.Length} losses: max |ours − torch| = {maxDiff:E2} ({(maxDiff <= LossTolerance ? "agree" : "DISAGREE")}, tolerance {LossTolerance:G}); "
                + $"parameters {ours.Parameters:N0} / {parameters:N0}, weight-decayed {ours.DecayedParameters:N0} / {decayed:N0} ({(sameGroups ? "same" : "DIFFERENT")})");
            // Information only: later losses drift apart as float rounding differences compound.
            double[] allTorch = [.. j.GetProperty("all_losses").EnumerateArray().Select(e => e.GetDouble())];
            double maxAll = allTorch.Select((l, i) => Math.Abs(l - ours.Losses[i])).Max();
            Console.WriteLine($"  all {allTorch.Length} steps: max |ours − torch| = {maxAll:E2} (information: rounding differences compound over steps)");
            double tm = j.GetProperty("median_tokens_per_s").GetDouble();
            torchMedian = $"{tm:F0}";
            torchBest = $"{j.GetProperty("best_tokens_per_s").GetDouble():F0}";
            ratio = agreed ? $"{oursMedian / tm:F2}×" : "(losses disagree)";
            var p = j.GetProperty("phase_ms");
            torchPhases = $"{p.GetProperty("forward").GetDouble():F2} / {p.GetProperty("backward").GetDouble():F2} / {p.GetProperty("optimizer").GetDouble():F2}";
        }
        rows.Add($"| {name} | {tokensPerStep} | {oursMedian:F0} | {oursBest:F0} | {torchMedian} | {torchBest} | {ratio} |");
        phaseRows.Add($"| {name} | {ours.ForwardMs:F2} / {ours.BackwardMs:F2} / {ours.OptimizerMs:F2} | {torchPhases} | {ours.AllocatedBytesPerStep / 1048576.0:F2} MiB "
            + $"| {string.Join("/", ours.Collections)} | {ours.CpuMsPerStep:F1} | {ours.DataMsPerBatch:F2} |");
        return agreed;
    }

}
