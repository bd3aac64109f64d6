using System.CommandLine;
using System.Diagnostics;
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
/// not proof of induction heads. `embedded` reproduces the embedded default model (docs/EMBEDDED-MODEL.md), whose
/// induction heads form around steps 1,200–1,600.
/// </summary>
public static class TrainCommand
{
    private static readonly Dictionary<string, TrainingPreset> Presets = TrainingPreset.All.ToDictionary(p => p.Name);

    public static Command Create()
    {
        var preset = new Option<string>("--preset") { Description = $"Training preset: {string.Join(", ", Presets.Keys)}", DefaultValueFactory = _ => "repeats" };
        var output = new Option<string>("--out", "-o") { Description = "Directory for the trained model, its checkpoints and its training curve", DefaultValueFactory = _ => "train" };
        var steps = new Option<int?>("--steps") { Description = "Override the preset's number of steps" };
        var seed = new Option<ulong?>("--seed") { Description = "Override the preset's seed (data order and initialisation)" };
        var checkpointEvery = new Option<int?>("--checkpoint-every") { Description = "Write a resumable checkpoint to --out every N steps (default: the preset's; always after the last step and on Ctrl+C or SIGTERM)" };
        var resume = new Option<bool>("--resume") { Description = "Continue the run whose checkpoint is in --out (same preset and options; bit-identical to an uninterrupted run)" };
        var force = new Option<bool>("--force") { Description = "Replace the run already in --out (its files are removed when the new run writes its first checkpoint)" };
        var learningRate = new Option<double?>("--lr") { Description = "Override the preset's peak learning rate" };
        var command = new Command("train", "Train a small GPT-2-architecture model on synthetic data (simplified-model studies).") { preset, output, steps, seed, checkpointEvery, resume, force, learningRate };
        command.SetAction((parse, cancel) =>
        {
            string name = parse.GetValue(preset)!;
            if (!Presets.TryGetValue(name, out var p)) throw new UsageException($"unknown preset \"{name}\"; available: {string.Join(", ", Presets.Keys)}");
            // Before any training: an --out that cannot take the checkpoints fails now, not at the first checkpoint.
            string dir = OutputFiles.PrepareDirectory(parse.GetValue(output)!);
            bool replace = CheckOutputDirectory(dir, parse.GetValue(resume), parse.GetValue(force));
            if (parse.GetValue(learningRate) is double lrOverride && !(lrOverride > 0 && double.IsFinite(lrOverride)))
                throw new UsageException($"--lr {lrOverride}: the learning rate must be a finite number > 0");
            TrainingOptions options;
            if (parse.GetValue(resume))
            {
                options = TrainingCheckpoint.ReadOptions(dir);
                if (parse.GetValue(steps) is int s && s != options.Steps)
                    throw new UsageException($"--steps {s}: the checkpoint in {dir} was trained for {options.Steps} steps and the learning-rate schedule depends on it; resume without --steps");
                if (parse.GetValue(learningRate) is double lr && lr != options.PeakLearningRate)
                    throw new UsageException($"--lr {lr}: the checkpoint in {dir} was trained at peak learning rate {options.PeakLearningRate}; resume without --lr");
            }
            else
            {
                options = p.Options with
                {
                    Steps = parse.GetValue(steps) ?? p.Options.Steps,
                    Seed = parse.GetValue(seed) ?? p.Options.Seed,
                    CheckpointEvery = parse.GetValue(checkpointEvery) ?? p.Options.CheckpointEvery,
                    PeakLearningRate = parse.GetValue(learningRate) ?? p.Options.PeakLearningRate,
                };
                if (options.Steps <= 0) throw new UsageException($"--steps {options.Steps} must be positive");
                if (options.WarmupSteps > options.Steps) options = options with { WarmupSteps = options.Steps };
            }
            var stdout = parse.InvocationConfiguration.Output;
            var stderr = parse.InvocationConfiguration.Error;
            var model = new Gpt2TrainingModel(p.Config, options.Seed);
            var trainer = new Trainer(model, p.Data(), options);
            if (parse.GetValue(resume))
            {
                trainer.Resume(dir);
                stdout.WriteLine($"resuming {dir} at step {trainer.NextStep} of {options.Steps}");
            }
            stdout.WriteLine($"preset {name}: {p.Description}; {model.ParameterCount:N0} parameters, {options.Steps} steps of {options.BatchSequences}×{options.SequenceLength} tokens, seed {options.Seed}");
            string? tokenizerJson = p.TokenizerJson?.Invoke();
            var metadata = new Dictionary<string, string> { ["headminer_preset"] = name, ["headminer_seed"] = options.Seed.ToString(System.Globalization.CultureInfo.InvariantCulture) };
            var sw = Stopwatch.StartNew();
            try
            {
                ProgressDisplay.Run<TrainingProgress, TrainingCurve>(stderr, $"train {name}", () => new TrainingProgressLine(stderr, inPlace: false), bar => new TrainingProgressBar(bar), progress => trainer.Run(progress, cancel, done =>
                {
                    // --force: the old run's files go only now, when the new run has something to put in their place.
                    if (replace) TrainingCheckpoint.RemoveRun(dir);
                    replace = false;
                    TrainingCheckpoint.Save(dir, trainer, tokenizerJson, metadata);
                    if (p.AnalysisHints is { } hints) AtomicFile.WriteAllText(Path.Combine(dir, HeadMiner.Analysis.Detectors.AnalysisHints.FileName), hints.ToJson());
                    Report(trainer.Curve, name, options.Seed).Write(Path.Combine(dir, TrainingCheckpoint.CurveHtmlName));
                }));
            }
            catch (TrainingDivergedException e)
            {
                // Resuming would take the same step again and diverge again (data and schedule are functions of the
                // step), so the way on is a new run with a smaller learning rate.
                stderr.WriteLine();
                stderr.WriteLine($"error: {e.Message}; kept the last finite state, before step {e.Step}, in {dir} (model.safetensors holds its weights); "
                    + $"resuming would diverge again at the same step: start again with a smaller learning rate, e.g. headminer train --preset {name} -o {dir} --force --lr {(options.PeakLearningRate / 10).ToString("G3", System.Globalization.CultureInfo.InvariantCulture)}");
                return Task.FromResult(ExitCodes.Failure);
            }
            catch (OperationCanceledException)
            {
                throw new CommandStoppedException($"train stopped at step {trainer.NextStep} of {options.Steps}; checkpoint written to {dir}; continue with: headminer train --preset {name} -o {dir} --resume");
            }
            var last = trainer.Curve.Points[^1].EvalLosses!;
            stdout.WriteLine($"trained in {sw.Elapsed.TotalSeconds:F1} s; held-out loss {last["all"]:F3} ({string.Join(", ", last.Where(kv => kv.Key != "all").Select(kv => $"{kv.Key} {kv.Value:F3}"))})");
            stdout.WriteLine($"wrote {dir}/config.json, model.safetensors{(tokenizerJson is null ? "" : ", tokenizer.json")}, {TrainingCheckpoint.StateFileName}, {TrainingCheckpoint.CurveCsvName}, {TrainingCheckpoint.CurveSvgName}, {TrainingCheckpoint.CurveHtmlName}");
            return Task.FromResult(ExitCodes.Success);
        });
        return command;
    }

    /// <summary>
    /// Refuses to train into a directory that holds a run unless told to continue it (--resume) or replace it
    /// (--force); returns whether an existing run is to be replaced. An empty or absent directory is fine.
    /// </summary>
    private static bool CheckOutputDirectory(string dir, bool resume, bool force)
    {
        if (resume && force) throw new UsageException("--resume and --force cannot be combined: --resume continues the run in --out, --force replaces it");
        var existing = TrainingCheckpoint.ExistingRunFiles(dir);
        if (existing.Count > 0 && !resume && !force)
            throw new UsageException($"{dir} already holds a training run ({string.Join(", ", existing)}): continue it with --resume, or replace it with --force");
        return force && existing.Count > 0;
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
}
