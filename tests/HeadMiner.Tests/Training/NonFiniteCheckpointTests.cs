using HeadMiner.Tasks.Synthetic;
using HeadMiner.Training;

namespace HeadMiner.Tests.Training;

/// <summary>
/// A checkpoint holding a NaN or ±∞ anywhere the run would continue from (weights, optimizer moments, the curve) is
/// refused on resume, naming the file, the tensor or cell and the first bad index, before the trainer changes; and
/// a trainer whose state is not finite does not write a checkpoint.
/// </summary>
public class NonFiniteCheckpointTests
{
    private static readonly TrainingOptions Options = new()
    {
        Steps = 4,
        BatchSequences = 3,
        SequenceLength = 12,
        WarmupSteps = 1,
        EvalEvery = 0,
        EvalSequences = 3,
        Seed = 5,
    };

    private static readonly RepeatedSegments Data = new(5, 1, 40, bosId: 0);

    private static Trainer NewTrainer(ulong seed = 3) => new(new Gpt2TrainingModel(TrainingPreset.Repeats.Config, seed), Data, Options);

    /// <summary>A checkpoint after 2 of 4 steps.</summary>
    private static void WriteCheckpoint(string directory)
    {
        var trainer = NewTrainer();
        using var cancel = new CancellationTokenSource();
        var progress = new Progress(p => { if (p.Step == 2) cancel.Cancel(); });
        Assert.Throws<OperationCanceledException>(() => trainer.Run(progress, cancel.Token, _ => TrainingCheckpoint.Save(directory, trainer)));
    }

    [Fact]
    public void ANonFiniteWeightIsRefusedNamingFileTensorAndIndex()
    {
        using var dir = TestPaths.NewTempDirectory();
        WriteCheckpoint(dir.Path);
        string tensor = CheckpointPoisoning.Poison(dir.File("model.safetensors"), "attn.c_attn.weight", 3 * 96 + 5, float.NaN);
        AssertRefusedUnchanged(dir.Path, dir.File("model.safetensors"), $"tensor {tensor}: [3, 5] is NaN");
    }

    [Fact]
    public void ANonFiniteOptimizerMomentIsRefused()
    {
        using var dir = TestPaths.NewTempDirectory();
        WriteCheckpoint(dir.Path);
        string state = dir.File(TrainingCheckpoint.StateFileName);
        string tensor = CheckpointPoisoning.Poison(state, "W_in" + AdamW.SecondMomentSuffix, 7, float.PositiveInfinity);
        AssertRefusedUnchanged(dir.Path, state, $"tensor {tensor}: [0, 7] is Infinity");
    }

    [Fact]
    public void ANonFiniteLossInTheStoredCurveIsRefused()
    {
        using var dir = TestPaths.NewTempDirectory();
        WriteCheckpoint(dir.Path);
        string csv = dir.File(TrainingCheckpoint.CurveCsvName);
        var lines = File.ReadAllLines(csv);
        var cells = lines[2].Split(',');
        cells[2] = "-Infinity"; // train_loss of step 1
        lines[2] = string.Join(',', cells);
        File.WriteAllLines(csv, lines);
        AssertRefusedUnchanged(dir.Path, csv, "line 3 (step 1), column train_loss is -Infinity");
    }

    [Fact]
    public void ATrainerWithANonFiniteWeightWritesNoCheckpoint()
    {
        using var dir = TestPaths.NewTempDirectory();
        WriteCheckpoint(dir.Path);
        var before = File.ReadAllBytes(dir.File("model.safetensors"));
        var trainer = NewTrainer();
        var parameter = trainer.Model.TrainableParameters()[0];
        parameter.Value.Span[4] = float.NegativeInfinity;
        var e = Assert.Throws<HeadMinerException>(() => TrainingCheckpoint.Save(dir.Path, trainer));
        Assert.Contains($"parameter {parameter.Name}: [0, 4] is -Infinity", e.Message);
        Assert.Equal(before, File.ReadAllBytes(dir.File("model.safetensors")));
    }

    /// <summary>Resume is refused with <paramref name="expected"/> and the file's path in the message, and the trainer is untouched.</summary>
    private static void AssertRefusedUnchanged(string directory, string file, string expected)
    {
        var trainer = NewTrainer(seed: 99);
        var before = trainer.Model.TrainableParameters().Select(p => p.Value.ToArray()).ToList();
        var e = Assert.Throws<HeadMinerException>(() => trainer.Resume(directory));
        Assert.Contains(file, e.Message);
        Assert.Contains(expected, e.Message);
        Assert.Equal(0, trainer.NextStep);
        Assert.Equal(0, trainer.Optimizer.StepCount);
        var after = trainer.Model.TrainableParameters().Select(p => p.Value.ToArray()).ToList();
        for (int i = 0; i < before.Count; i++) Assert.Equal(before[i], after[i]);
    }

    private sealed class Progress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }
}
