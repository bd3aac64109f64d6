namespace HeadMiner.Training;

/// <summary>
/// Linear warm-up followed by a half-cosine decay to a floor, the schedule most small transformer runs use. Steps are
/// 0-based optimizer steps (step s is the (s+1)-th call of the optimizer). With peak η, warm-up W, total T and floor
/// η_min = η · minRatio:
/// <code>
/// s &lt; W:       η(s) = η · (s + 1) / W                        (the first step already moves; the last warm-up step is at η)
/// W ≤ s &lt; T:   η(s) = η_min + (η − η_min) · ½ · (1 + cos(π · (s − W) / (T − W)))
/// s ≥ T:       η(s) = η_min                                 (clamped: training past the planned end stays at the floor)
/// </code>
/// So η(W) = η (cosine at 0), the midpoint of the decay s = W + (T − W)/2 gives (η + η_min)/2, and η(T) = η_min.
/// W = 0 means no warm-up; W = T means warm-up straight to the floor at step T.
/// </summary>
public sealed class LearningRateSchedule
{
    public LearningRateSchedule(double peakLearningRate, long warmupSteps, long totalSteps, double minRatio = 0.1)
    {
        if (!(peakLearningRate > 0) || double.IsInfinity(peakLearningRate))
            throw new ArgumentOutOfRangeException(nameof(peakLearningRate), $"peak learning rate must be finite and > 0, got {peakLearningRate}");
        if (warmupSteps < 0) throw new ArgumentOutOfRangeException(nameof(warmupSteps), $"warm-up steps must be ≥ 0, got {warmupSteps}");
        if (totalSteps < warmupSteps || totalSteps <= 0)
            throw new ArgumentOutOfRangeException(nameof(totalSteps), $"total steps ({totalSteps}) must be > 0 and ≥ warm-up steps ({warmupSteps})");
        if (!(minRatio >= 0 && minRatio <= 1)) throw new ArgumentOutOfRangeException(nameof(minRatio), $"minimum ratio must be in [0, 1], got {minRatio}");
        PeakLearningRate = peakLearningRate;
        WarmupSteps = warmupSteps;
        TotalSteps = totalSteps;
        MinRatio = minRatio;
    }

    public double PeakLearningRate { get; }
    public long WarmupSteps { get; }
    public long TotalSteps { get; }
    public double MinRatio { get; }
    public double MinLearningRate => PeakLearningRate * MinRatio;

    /// <summary>The learning rate for 0-based optimizer step <paramref name="step"/>.</summary>
    public double At(long step)
    {
        if (step < 0) throw new ArgumentOutOfRangeException(nameof(step), $"step must be ≥ 0, got {step}");
        if (step < WarmupSteps) return PeakLearningRate * (step + 1) / WarmupSteps;
        if (step >= TotalSteps) return MinLearningRate;
        double progress = (double)(step - WarmupSteps) / (TotalSteps - WarmupSteps);
        return MinLearningRate + (PeakLearningRate - MinLearningRate) * 0.5 * (1 + Math.Cos(Math.PI * progress));
    }
}
