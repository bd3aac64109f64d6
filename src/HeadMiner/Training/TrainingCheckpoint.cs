using System.Globalization;
using System.Text.Json;
using HeadMiner.Models;
using HeadMiner.Models.Formats;
using HeadMiner.Tensors;

namespace HeadMiner.Training;

/// <summary>A loaded checkpoint's training position: the curve so far and the next step to train.</summary>
public sealed record TrainingCheckpointState(int NextStep, TrainingCurve Curve);

/// <summary>
/// A training run's checkpoint as a Hugging Face-style model directory that is also resumable:
/// <list type="bullet">
/// <item><c>config.json</c> + <c>model.safetensors</c> (GPT-2 names, loadable by our loader and by Hugging Face) and
/// <c>tokenizer.json</c> when the data has one: the model as it is at this step;</item>
/// <item><c>training_state.safetensors</c>: AdamW's moments (PyTorch state-dict names) with the step count, the next
/// step and the training options (JSON) as metadata;</item>
/// <item><c>training_curve.csv</c> and <c>training_curve.svg</c>.</item>
/// </list>
/// Each file is written atomically and the state file last, and both safetensors files carry the step they belong
/// to, so a run killed while writing leaves either the previous checkpoint or a mismatch that <see cref="Load"/>
/// reports — never a silently mixed one.
/// <para>Non-finite values are refused both ways: <see cref="Save"/> does not write a state holding NaN/±∞ (the
/// files already there are kept), and <see cref="Load"/> refuses a checkpoint with one in its weights, optimizer
/// moments or curve, naming the file, the tensor (or line and column) and the first bad index, before it changes
/// anything: one NaN spreads to every weight within a step, and a resumed run would then train on NaN.</para>
/// </summary>
public static class TrainingCheckpoint
{
    public const string StateFileName = "training_state.safetensors";
    public const string CurveCsvName = "training_curve.csv";
    public const string CurveSvgName = "training_curve.svg";
    public const string CurveHtmlName = "training_curve.html";

    /// <summary>
    /// Every file a training run writes into its directory (the CLI adds the HTML curve and the analysis hints). The
    /// state file comes first: <see cref="RemoveRun"/> deletes in this order, so a directory caught half-cleared is
    /// no longer resumable rather than a mix of two runs that resumes.
    /// </summary>
    public static IReadOnlyList<string> RunFileNames { get; } =
        [StateFileName, "model.safetensors", "config.json", "tokenizer.json", CurveCsvName, CurveSvgName, CurveHtmlName, HeadMiner.Analysis.Detectors.AnalysisHints.FileName];
    private const string StepKey = "headminer_next_step";
    private const string OptimizerStepsKey = "headminer_optimizer_steps";
    private const string OptionsKey = "headminer_training_options";

    private static readonly JsonSerializerOptions OptionsJson = new() { WriteIndented = false, Converters = { new Tensors.Json.NonFiniteAsNullConverter() } };

    public static void Save(string directory, Trainer trainer, string? tokenizerJson = null, IReadOnlyDictionary<string, string>? modelMetadata = null)
    {
        // The trainer never gets here with a non-finite state (it rolls back first); this check makes "a checkpoint
        // never holds NaN weights" true of every caller, at the cost of one pass over the state.
        if (LastFiniteState.FirstNonFinite(trainer.Optimizer) is string bad)
            throw new HeadMinerException($"{directory}: not writing the checkpoint of step {trainer.NextStep}: {bad}; the files already there are unchanged");
        Directory.CreateDirectory(directory);
        string step = trainer.NextStep.ToString(CultureInfo.InvariantCulture);
        var (tensors, configJson) = trainer.Model.Export();
        var metadata = new Dictionary<string, string> { ["format"] = "pt", [StepKey] = step };
        if (modelMetadata is not null)
        {
            foreach (var (key, value) in modelMetadata) metadata[key] = value;
        }
        SafetensorsWriter.Write(Path.Combine(directory, "model.safetensors"), tensors, metadata);
        AtomicFile.WriteAllText(Path.Combine(directory, "config.json"), configJson);
        if (tokenizerJson is not null) AtomicFile.WriteAllText(Path.Combine(directory, "tokenizer.json"), tokenizerJson);
        trainer.Curve.WriteCsv(Path.Combine(directory, CurveCsvName));
        trainer.Curve.WriteSvg(Path.Combine(directory, CurveSvgName));
        SafetensorsWriter.Write(Path.Combine(directory, StateFileName), trainer.Optimizer.StateTensors(), new Dictionary<string, string>
        {
            [StepKey] = step,
            [OptimizerStepsKey] = trainer.Optimizer.StepCount.ToString(CultureInfo.InvariantCulture),
            [OptionsKey] = JsonSerializer.Serialize(trainer.Options, OptionsJson),
        });
    }

    /// <summary>The files of <see cref="RunFileNames"/> present in <paramref name="directory"/> (none when it does not exist).</summary>
    public static IReadOnlyList<string> ExistingRunFiles(string directory) =>
        Directory.Exists(directory) ? RunFileNames.Where(name => File.Exists(Path.Combine(directory, name))).ToList() : [];

    /// <summary>
    /// Deletes the files of a previous run (<see cref="RunFileNames"/>, state file first), so that a run replacing it
    /// leaves none of them behind — a stale tokenizer.json or training state next to new weights would be read as
    /// part of the new model. Other files in the directory are left alone.
    /// </summary>
    public static void RemoveRun(string directory)
    {
        foreach (string name in RunFileNames)
        {
            string path = Path.Combine(directory, name);
            try
            {
                File.Delete(path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new HeadMinerException($"{path}: could not remove this file of the previous run: {e.Message}", e);
            }
        }
    }

    /// <summary>The training options stored in a checkpoint (what `train --resume` continues with).</summary>
    public static TrainingOptions ReadOptions(string directory)
    {
        using var state = OpenState(directory);
        return ParseOptions(state);
    }

    /// <summary>
    /// Restores <paramref name="model"/> and <paramref name="optimizer"/> from <paramref name="directory"/>. The stored
    /// options must equal <paramref name="expected"/> (the data, schedule and batch all depend on them).
    /// </summary>
    public static TrainingCheckpointState Load(string directory, Gpt2TrainingModel model, AdamW optimizer, TrainingOptions expected)
    {
        using var state = OpenState(directory);
        var stored = ParseOptions(state);
        if (stored != expected)
            throw new HeadMinerException($"{directory}: the checkpoint was trained with different options ({JsonSerializer.Serialize(stored, OptionsJson)}) than this run ({JsonSerializer.Serialize(expected, OptionsJson)})");
        int nextStep = ParseInt(state, StepKey);
        long optimizerSteps = ParseInt(state, OptimizerStepsKey);

        string modelPath = Path.Combine(directory, "model.safetensors");
        using (var weightsFile = SafetensorsFile.Open(modelPath))
        {
            if (!weightsFile.Metadata.TryGetValue(StepKey, out var weightsStep) || weightsStep != nextStep.ToString(CultureInfo.InvariantCulture))
                throw new HeadMinerException($"{modelPath}: the weights are from step {weightsStep ?? "?"}, the optimizer state from step {nextStep}: the checkpoint was not written completely");
            RequireFinite(weightsFile);
        }
        RequireFinite(state);
        string csv = Path.Combine(directory, CurveCsvName);
        var curve = File.Exists(csv) ? TrainingCurve.ReadCsv(csv) : new TrainingCurve();
        RequireFinite(curve, csv);

        // Everything is checked: only now do the model and the optimizer change.
        using (var loaded = ModelLoader.Load(directory))
        {
            if (loaded.Model.Config.Layers != model.Config.Layers || loaded.Model.Config.DModel != model.Config.DModel
                || loaded.Model.Config.VocabSize != model.Config.VocabSize || loaded.Model.Config.ContextLength != model.Config.ContextLength)
                throw new HeadMinerException($"{directory}: the checkpoint's model shape differs from this run's");
            model.LoadWeights(loaded.Model.Weights);
        }
        var moments = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (string name in state.TensorNames) moments[name] = state.GetFloat32(name);
        optimizer.RestoreState(optimizerSteps, moments);
        return new TrainingCheckpointState(nextStep, curve);
    }

    private static void RequireFinite(SafetensorsFile file)
    {
        foreach (string name in file.TensorNames)
        {
            if (NonFiniteValues.Describe(file.GetFloat32(name)) is string where)
                throw new HeadMinerException($"{file.Path}: tensor {name}: {where}; a checkpoint with non-finite values cannot be resumed (every step from it would train on NaN)");
        }
    }

    /// <summary>The trainer stops at the first non-finite step and records none, so a non-finite cell means a damaged or foreign curve.</summary>
    private static void RequireFinite(TrainingCurve curve, string path)
    {
        for (int row = 0; row < curve.Points.Count; row++)
        {
            var p = curve.Points[row];
            var cells = new List<(string Column, double? Value)>
            {
                ("train_loss", p.TrainLoss), ("learning_rate", p.LearningRate), ("grad_norm", p.GradientNorm), ("tokens_per_second", p.TokensPerSecond),
            };
            if (p.EvalLosses is { } evals) cells.AddRange(evals.Select(kv => (TrainingCurve.EvalColumnPrefix + kv.Key, (double?)kv.Value)));
            foreach (var (column, value) in cells)
            {
                if (value is double v && !double.IsFinite(v))
                    throw new HeadMinerException($"{path}: line {row + 2} (step {p.Step}), column {column} is {NonFiniteValues.Text(v)}; a checkpoint with non-finite values cannot be resumed");
            }
        }
    }

    private static SafetensorsFile OpenState(string directory)
    {
        string path = Path.Combine(directory, StateFileName);
        if (!File.Exists(path)) throw new HeadMinerException($"{directory}: no {StateFileName}: not a resumable training checkpoint");
        return SafetensorsFile.Open(path);
    }

    private static TrainingOptions ParseOptions(SafetensorsFile state)
    {
        if (!state.Metadata.TryGetValue(OptionsKey, out var json)) throw new HeadMinerException($"{state.Path}: metadata {OptionsKey} is missing");
        try
        {
            return JsonSerializer.Deserialize<TrainingOptions>(json, OptionsJson) ?? throw new HeadMinerException($"{state.Path}: metadata {OptionsKey} is null");
        }
        catch (JsonException e)
        {
            throw new HeadMinerException($"{state.Path}: metadata {OptionsKey} is not valid training options: {e.Message}", e);
        }
    }

    private static int ParseInt(SafetensorsFile state, string key) =>
        state.Metadata.TryGetValue(key, out var text) && int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value)
            ? value
            : throw new HeadMinerException($"{state.Path}: metadata {key} is missing or not a non-negative integer");
}
