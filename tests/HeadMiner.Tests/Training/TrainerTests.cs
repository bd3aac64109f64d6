using HeadMiner.Models;
using HeadMiner.Tasks.Synthetic;
using HeadMiner.Training;
using Xunit.Abstractions;

namespace HeadMiner.Tests.Training;

public class TrainerTests(ITestOutputHelper output)
{
    private static ModelConfig Config() => TrainingPreset.Repeats.Config;

    private static readonly TrainingOptions Options = new()
    {
        Steps = 1500,
        BatchSequences = 16,
        SequenceLength = 24,
        PeakLearningRate = 3e-3,
        WarmupSteps = 20,
        EvalEvery = 250,
        EvalSequences = 16,
        Seed = 7,
    };

    [Fact]
    public void ASmallModelLearnsToPredictRepeatsInContext()
    {
        // Segments of 12 random tokens (ids 1..40) repeated: the second copy is predictable only in context. With a
        // fixed period this can be solved by relative position (a layer-0 head attending 11 back), so the test
        // checks in-context prediction, not that induction heads formed.
        var data = new RepeatedSegments(12, 1, 40, bosId: 0);
        var model = new Gpt2TrainingModel(Config(), seed: 1);
        var curve = new Trainer(model, data, Options).Run();
        var first = curve.Points[0].EvalLosses!;
        var last = curve.Points[^1].EvalLosses!;
        foreach (var p in curve.Points.Where(p => p.EvalLosses is not null))
            output.WriteLine($"step {p.Step}: train {p.TrainLoss:F3} eval {p.EvalLosses!["all"]:F3} induction {p.EvalLosses!["induction"]:F3} random {p.EvalLosses!["random"]:F3}");
        Assert.Equal(1500, curve.Points.Count);
        Assert.Equal(7, curve.Points.Count(p => p.EvalLosses is not null)); // steps 0, 250, …, 1250, and 1499
        // Random first copies stay near chance (ln 40 ≈ 3.7); repeated tokens become predictable from context.
        Assert.True(last["random"] > 3.0, $"random tokens cannot be predicted, yet their loss is {last["random"]}");
        Assert.True(last["induction"] < 0.5 * first["induction"], $"induction loss went from {first["induction"]} to {last["induction"]}");
        Assert.True(last["induction"] < last["random"] - 1.5);
    }

    [Fact]
    public void TrainingIsDeterministic()
    {
        var data = new RepeatedSegments(6, 1, 40, bosId: 0);
        var options = Options with { Steps = 5, WarmupSteps = 2, SequenceLength = 12, EvalEvery = 0 };
        var a = new Trainer(new Gpt2TrainingModel(Config(), 2), data, options).Run();
        var b = new Trainer(new Gpt2TrainingModel(Config(), 2), data, options).Run();
        Assert.Equal(a.Points.Select(p => p.TrainLoss), b.Points.Select(p => p.TrainLoss));
        Assert.Equal(a.Points[^1].EvalLosses!["all"], b.Points[^1].EvalLosses!["all"]);
    }
}

public class TrainingCheckpointTests
{
    private static readonly TrainingOptions Options = new()
    {
        Steps = 9,
        BatchSequences = 3,
        SequenceLength = 13,
        PeakLearningRate = 3e-3,
        WarmupSteps = 2,
        EvalEvery = 4,
        EvalSequences = 3,
        Seed = 11,
    };

    [Fact]
    public void AResumedRunIsBitIdenticalToAnUninterruptedOne()
    {
        var config = TrainingPreset.Repeats.Config;
        var data = new RepeatedSegments(5, 1, 40, bosId: 0);
        var straight = new Trainer(new Gpt2TrainingModel(config, 3), data, Options);
        straight.Run();

        using var dir = TestPaths.NewTempDirectory();
        using (var cancel = new CancellationTokenSource())
        {
            var first = new Trainer(new Gpt2TrainingModel(config, 3), data, Options);
            // Stop after step 5 (as Ctrl+C would): the trainer writes a checkpoint and throws.
            var progress = new Progress(p => { if (p.Step == 5) cancel.Cancel(); });
            Assert.Throws<OperationCanceledException>(() => first.Run(progress, cancel.Token, _ => TrainingCheckpoint.Save(dir.Path, first)));
            Assert.Equal(5, first.NextStep);
        }
        // A fresh model with a different initialisation: everything must come from the checkpoint.
        var resumed = new Trainer(new Gpt2TrainingModel(config, 99), data, Options);
        resumed.Resume(dir.Path);
        Assert.Equal(5, resumed.NextStep);
        Assert.Equal(5, resumed.Optimizer.StepCount);
        resumed.Run();

        Assert.Equal(straight.Curve.Points.Select(p => p.TrainLoss), resumed.Curve.Points.Select(p => p.TrainLoss));
        Assert.Equal(straight.Curve.Points[^1].EvalLosses!["all"], resumed.Curve.Points[^1].EvalLosses!["all"]);
        var a = straight.Model.TrainableParameters();
        var b = resumed.Model.TrainableParameters();
        for (int i = 0; i < a.Count; i++) Assert.Equal(a[i].Value.ToArray(), b[i].Value.ToArray());
    }

    [Fact]
    public void ACheckpointFromOtherOptionsOrAHalfWrittenOneIsRefused()
    {
        var config = TrainingPreset.Repeats.Config;
        var data = new RepeatedSegments(5, 1, 40, bosId: 0);
        using var dir = TestPaths.NewTempDirectory();
        var trainer = new Trainer(new Gpt2TrainingModel(config, 3), data, Options with { Steps = 2, EvalEvery = 0 });
        trainer.Run(checkpoint: _ => TrainingCheckpoint.Save(dir.Path, trainer));

        var other = new Trainer(new Gpt2TrainingModel(config, 3), data, Options with { Steps = 3, EvalEvery = 0 });
        var e = Assert.Throws<HeadMinerException>(() => other.Resume(dir.Path));
        Assert.Contains("different options", e.Message);

        // Weights from another step than the optimizer state (a crash between the two writes).
        var weightsAtStep1 = new Trainer(new Gpt2TrainingModel(config, 3), data, Options with { Steps = 1, WarmupSteps = 1, EvalEvery = 0 });
        weightsAtStep1.Run();
        using var other2 = TestPaths.NewTempDirectory();
        TrainingCheckpoint.Save(other2.Path, weightsAtStep1);
        File.Copy(Path.Combine(other2.Path, "model.safetensors"), Path.Combine(dir.Path, "model.safetensors"), overwrite: true);
        var same = new Trainer(new Gpt2TrainingModel(config, 3), data, Options with { Steps = 2, EvalEvery = 0 });
        e = Assert.Throws<HeadMinerException>(() => same.Resume(dir.Path));
        Assert.Contains("not written completely", e.Message);

        using var empty = TestPaths.NewTempDirectory();
        e = Assert.Throws<HeadMinerException>(() => same.Resume(empty.Path));
        Assert.Contains("not a resumable training checkpoint", e.Message);
    }

    private sealed class Progress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => report(value);
    }
}
