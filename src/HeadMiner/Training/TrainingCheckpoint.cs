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
/// </summary>
public static class TrainingCheckpoint
{
    public const string StateFileName = "training_state.safetensors";
    public const string CurveCsvName = "training_curve.csv";
    public const string CurveSvgName = "training_curve.svg";
    private const string StepKey = "headminer_next_step";
    private const string OptimizerStepsKey = "headminer_optimizer_steps";
    private const string OptionsKey = "headminer_training_options";

    private static readonly JsonSerializerOptions OptionsJson = new() { WriteIndented = false, Converters = { new Tensors.Json.NonFiniteAsNullConverter() } };

    public static void Save(string directory, Trainer trainer, string? tokenizerJson = null, IReadOnlyDictionary<string, string>? modelMetadata = null)
    {
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
        }
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

        string csv = Path.Combine(directory, CurveCsvName);
        var curve = File.Exists(csv) ? TrainingCurve.ReadCsv(csv) : new TrainingCurve();
        return new TrainingCheckpointState(nextStep, curve);
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
