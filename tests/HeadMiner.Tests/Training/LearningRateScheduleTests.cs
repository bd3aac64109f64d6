using HeadMiner.Training;

namespace HeadMiner.Tests.Training;

public class LearningRateScheduleTests
{
    [Fact]
    public void WarmupThenCosineToTheFloor()
    {
        var s = new LearningRateSchedule(peakLearningRate: 1e-3, warmupSteps: 100, totalSteps: 1100, minRatio: 0.1);
        Assert.Equal(1e-5, s.At(0), 1e-18);          // first step: peak / W
        Assert.Equal(5e-4, s.At(49), 1e-18);
        Assert.Equal(1e-3, s.At(99), 1e-18);         // last warm-up step reaches the peak
        Assert.Equal(1e-3, s.At(100), 1e-18);        // decay starts at cos(0) = 1
        Assert.Equal(5.5e-4, s.At(600), 1e-15);      // half way: (peak + floor) / 2
        Assert.Equal(1e-4 + 9e-4 * 0.5 * (1 + Math.Cos(Math.PI * 0.25)), s.At(350), 1e-15);
        Assert.Equal(1e-4, s.At(1100), 1e-18);       // the end
        Assert.Equal(1e-4, s.At(1_000_000), 1e-18);  // clamped after it
        Assert.Equal(1e-4, s.MinLearningRate, 1e-18);
    }

    [Fact]
    public void RisesDuringWarmupAndFallsAfter()
    {
        var s = new LearningRateSchedule(3e-4, warmupSteps: 10, totalSteps: 50, minRatio: 0);
        for (int step = 1; step < 10; step++) Assert.True(s.At(step) > s.At(step - 1), $"step {step}");
        for (int step = 11; step <= 50; step++) Assert.True(s.At(step) < s.At(step - 1), $"step {step}");
        Assert.Equal(0.0, s.At(50));
    }

    [Fact]
    public void NoWarmupStartsAtThePeak()
    {
        var s = new LearningRateSchedule(2e-3, warmupSteps: 0, totalSteps: 10, minRatio: 0.5);
        Assert.Equal(2e-3, s.At(0), 1e-18);
        Assert.Equal(1.5e-3, s.At(5), 1e-15);
        Assert.Equal(1e-3, s.At(10), 1e-18);
    }

    [Fact]
    public void WarmupAsLongAsTheRunEndsAtTheFloor()
    {
        var s = new LearningRateSchedule(1.0, warmupSteps: 4, totalSteps: 4, minRatio: 0.2);
        Assert.Equal([0.25, 0.5, 0.75, 1.0, 0.2, 0.2], Enumerable.Range(0, 6).Select(i => s.At(i)));
    }

    [Fact]
    public void InvalidSettingsAreRejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new LearningRateSchedule(0, 1, 10));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LearningRateSchedule(1e-3, -1, 10));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LearningRateSchedule(1e-3, 20, 10));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LearningRateSchedule(1e-3, 0, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LearningRateSchedule(1e-3, 1, 10, minRatio: 1.5));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LearningRateSchedule(1e-3, 1, 10).At(-1));
    }
}
