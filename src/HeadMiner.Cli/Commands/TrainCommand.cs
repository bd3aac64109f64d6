using System.CommandLine;
using System.Diagnostics;
using HeadMiner.Models.Formats;
using HeadMiner.Reports;
using HeadMiner.Tensors;
using HeadMiner.Training;

namespace HeadMiner.Cli.Commands;

/// <summary>
/// `headminer train`: trains a small GPT-2-architecture model on synthetic data and writes a Hugging Face model
/// directory (config.json + model.safetensors) with its training curve (CSV + SVG). Presets are runs that have been
/// measured. `repeats`: a 2-layer model on fixed-period repeated random segments learns to predict the repeats in
/// context (loss on repeated tokens falls from chance to near 0 around steps 250–500). With a fixed period a layer-0
/// head can reach "the token after the previous occurrence" by relative position, so this is in-context copying,
/// not proof of induction heads (variable periods need a longer run; not reached yet).
/// </summary>
public static class TrainCommand
{
    private static readonly Dictionary<string, TrainingPreset> Presets = TrainingPreset.All.ToDictionary(p => p.Name);

    public static Command Create()
    {
        var preset = new Option<string>("--preset") { Description = $"Training preset: {string.Join(", ", Presets.Keys)}", DefaultValueFactory = _ => "repeats" };
        var output = new Option<string>("--out", "-o") { Description = "Directory for the trained model and its training curve", DefaultValueFactory = _ => "trained-model" };
        var steps = new Option<int?>("--steps") { Description = "Override the preset's number of steps" };
        var seed = new Option<ulong?>("--seed") { Description = "Override the preset's seed (data order and initialisation)" };
        var command = new Command("train", "Train a small GPT-2-architecture model on synthetic data (simplified-model studies).") { preset, output, steps, seed };
        command.SetAction(parse =>
        {
            string name = parse.GetValue(preset)!;
            if (!Presets.TryGetValue(name, out var p)) throw new UsageException($"unknown preset \"{name}\"; available: {string.Join(", ", Presets.Keys)}");
            var options = p.Options with
            {
                Steps = parse.GetValue(steps) ?? p.Options.Steps,
                Seed = parse.GetValue(seed) ?? p.Options.Seed,
            };
            if (options.Steps <= 0) throw new UsageException($"--steps {options.Steps} must be positive");
            if (options.WarmupSteps > options.Steps) options = options with { WarmupSteps = options.Steps };
            var stdout = parse.InvocationConfiguration.Output;
            var stderr = parse.InvocationConfiguration.Error;
            var model = new Gpt2TrainingModel(p.Config, options.Seed);
            stdout.WriteLine($"preset {name}: {p.Description}; {model.ParameterCount:N0} parameters, {options.Steps} steps of {options.BatchSequences}×{options.SequenceLength} tokens, seed {options.Seed}");
            var sw = Stopwatch.StartNew();
            var progress = new TrainingProgressLine(stderr);
            var curve = new Trainer(model, p.Data(), options).Run(progress);
            stderr.WriteLine();

            string dir = parse.GetValue(output)!;
            Directory.CreateDirectory(dir);
            var (tensors, configJson) = model.Export();
            SafetensorsWriter.Write(Path.Combine(dir, "model.safetensors"), tensors, new Dictionary<string, string> { ["format"] = "pt", ["headminer_preset"] = name, ["headminer_seed"] = options.Seed.ToString(System.Globalization.CultureInfo.InvariantCulture) });
            AtomicFile.WriteAllText(Path.Combine(dir, "config.json"), configJson);
            curve.WriteCsv(Path.Combine(dir, "training_curve.csv"));
            curve.WriteSvg(Path.Combine(dir, "training_curve.svg"));
            Report(curve, name, options.Seed).Write(Path.Combine(dir, "training_curve.html"));
            var last = curve.Points[^1].EvalLosses!;
            stdout.WriteLine($"trained in {sw.Elapsed.TotalSeconds:F1} s; held-out loss {last["all"]:F3} ({string.Join(", ", last.Where(kv => kv.Key != "all").Select(kv => $"{kv.Key} {kv.Value:F3}"))})");
            stdout.WriteLine($"wrote {dir}/config.json, model.safetensors, training_curve.csv, training_curve.svg, training_curve.html");
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>training_curve.html: training and held-out losses per step, and the learning-rate schedule.</summary>
    private static HtmlReport Report(TrainingCurve curve, string preset, ulong seed)
    {
        var points = curve.Points;
        double[] steps = points.Select(p => (double)p.Step).ToArray();
        var losses = new List<(string Name, double[] X, double?[] Y)> { ("train", steps, points.Select(p => p.TrainLoss).ToArray()) };
        foreach (string eval in curve.EvalNames)
        {
            var measured = points.Where(p => p.EvalLosses?.ContainsKey(eval) == true).ToArray();
            losses.Add(($"held-out {eval}", measured.Select(p => (double)p.Step).ToArray(), measured.Select(p => (double?)p.EvalLosses![eval]).ToArray()));
        }
        return new HtmlReport($"Training curve: preset {preset}, seed {seed}")
            .LineChart("loss (nats per token)", "step", "loss", losses)
            .LineChart("learning rate", "step", "learning rate", [("learning rate", steps, points.Select(p => p.LearningRate).ToArray())]);
    }

    /// <summary>One status line on stderr, rewritten in place: step, loss, throughput, last held-out losses.</summary>
    private sealed class TrainingProgressLine(TextWriter writer) : IProgress<TrainingProgress>
    {
        private string _eval = "";

        public void Report(TrainingProgress p)
        {
            if (p.Eval is { } eval) _eval = "held-out " + string.Join(" ", eval.Select(kv => $"{kv.Key}={kv.Value:F2}"));
            if (p.Step % 10 != 0 && p.Step != p.Steps && p.Eval is null) return;
            int width = 24, filled = (int)(width * p.Step / Math.Max(p.Steps, 1));
            writer.Write($"\r[{new string('#', filled)}{new string('.', width - filled)}] {p.Step}/{p.Steps} loss {p.Loss:F3} {p.TokensPerSecond:N0} tok/s {_eval}   ");
        }
    }
}
