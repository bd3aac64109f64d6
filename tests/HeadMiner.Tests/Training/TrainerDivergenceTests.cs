using HeadMiner.Tasks.Synthetic;
using HeadMiner.Training;

namespace HeadMiner.Tests.Training;

/// <summary>
/// A learning rate far too large is the real way a run diverges; these tests use one to check that the trainer
/// stops at the first non-finite step, rolls back to the state before it and checkpoints only that state.
/// </summary>
public class TrainerDivergenceTests
{
    private static readonly TrainingOptions Options = new()
    {
        Steps = 6,
        BatchSequences = 3,
        SequenceLength = 12,
        WarmupSteps = 1,
        EvalEvery = 0,
        EvalSequences = 3,
        Seed = 5,
    };

    private static readonly RepeatedSegments Data = new(5, 1, 40, bosId: 0);

    [Fact]
    public void ANonFiniteLossStopsTheRunAndCheckpointsTheStepBefore()
    {
        // At 1e8 the first updates make the weights huge but finite; a later forward pass overflows to NaN (step 2
        // with these seeds). The assertions hold for whichever step it is, as long as it is not the first.
        var trainer = new Trainer(new Gpt2TrainingModel(TrainingPreset.Repeats.Config, 3), Data, Options with { PeakLearningRate = 1e8 });
        var checkpoints = new List<int>();
        var e = Assert.Throws<TrainingDivergedException>(() => trainer.Run(checkpoint: checkpoints.Add));

        int step = e.Step;
        Assert.InRange(step, 1, Options.Steps - 1);
        Assert.False(double.IsFinite(e.Loss));
        Assert.Contains($"training diverged at step {step}: the loss is not finite (loss NaN", e.Message);
        Assert.Equal([step], checkpoints); // called once, with the kept state, before the exception
        Assert.Equal(step, trainer.NextStep);
        Assert.Equal(step, trainer.Optimizer.StepCount);
        Assert.Equal(step, trainer.Curve.Points.Count); // the curve ends before the step that was not taken
        Assert.All(trainer.Curve.Points, p => Assert.True(double.IsFinite(p.TrainLoss!.Value)));
        foreach (var p in trainer.Model.TrainableParameters())
            Assert.True(p.Value.ToArray().All(float.IsFinite), p.Name);
    }

    [Fact]
    public void AnUpdateThatOverflowsTheWeightsIsUndoneBitForBit()
    {
        // At 1e45 the decoupled decay factor 1 − lr·wd is −∞ in float32: step 0's loss and gradients are finite, its
        // update is not, so only the rollback can keep the initial weights.
        var trainer = new Trainer(new Gpt2TrainingModel(TrainingPreset.Repeats.Config, 3), Data, Options with { PeakLearningRate = 1e45 });
        var initial = new Gpt2TrainingModel(TrainingPreset.Repeats.Config, 3).TrainableParameters();
        int? checkpointed = null;
        var e = Assert.Throws<TrainingDivergedException>(() => trainer.Run(checkpoint: step => checkpointed = step));

        Assert.Equal(0, e.Step);
        Assert.True(double.IsFinite(e.Loss) && double.IsFinite(e.GradientNorm));
        Assert.Contains("after the update, parameter", e.Message);
        Assert.Matches(@"\[\d+(, \d+)*\] is (-?Infinity|NaN)", e.Message);
        Assert.Equal(0, checkpointed);
        Assert.Equal(0, trainer.Optimizer.StepCount);
        Assert.Empty(trainer.Curve.Points);
        var parameters = trainer.Model.TrainableParameters();
        for (int i = 0; i < parameters.Count; i++) Assert.Equal(initial[i].Value.ToArray(), parameters[i].Value.ToArray());
        foreach (var (name, moment) in trainer.Optimizer.StateTensors()) Assert.True(moment.ToArray().All(v => v == 0), name);
    }

    [Fact]
    public void ANonFiniteHeldOutLossUndoesTheStepBeforeIt()
    {
        // At 1e20 step 0's update leaves finite (huge) weights whose held-out loss is NaN: evaluating at step 0 catches
        // it before the step is recorded.
        var trainer = new Trainer(new Gpt2TrainingModel(TrainingPreset.Repeats.Config, 3), Data, Options with { PeakLearningRate = 1e20, EvalEvery = 1 });
        var initial = new Gpt2TrainingModel(TrainingPreset.Repeats.Config, 3).TrainableParameters();
        var e = Assert.Throws<TrainingDivergedException>(() => trainer.Run());

        Assert.Equal(0, e.Step);
        Assert.Contains("held-out loss", e.Message);
        Assert.Equal(0, trainer.NextStep);
        Assert.Equal(0, trainer.Optimizer.StepCount);
        var parameters = trainer.Model.TrainableParameters();
        for (int i = 0; i < parameters.Count; i++) Assert.Equal(initial[i].Value.ToArray(), parameters[i].Value.ToArray());
    }

    [Theory]
    [InlineData(double.PositiveInfinity, 1.0)]
    [InlineData(double.NaN, 1.0)]
    [InlineData(1e-3, double.PositiveInfinity)]
    public void NonFiniteOptionsAreRefusedBeforeTraining(double learningRate, double clipNorm)
    {
        var e = Assert.Throws<HeadMinerException>(() => new Trainer(new Gpt2TrainingModel(TrainingPreset.Repeats.Config, 3), Data, Options with { PeakLearningRate = learningRate, ClipNorm = clipNorm }));
        Assert.Contains("invalid training options", e.Message);
    }
}
