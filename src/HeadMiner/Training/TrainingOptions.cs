namespace HeadMiner.Training;

/// <summary>Hyperparameters of one training run (all of it reproducible from these and the seed).</summary>
public sealed record TrainingOptions
{
    public int Steps { get; init; } = 1000;

    /// <summary>Sequences per optimizer step.</summary>
    public int BatchSequences { get; init; } = 16;

    /// <summary>Input tokens per sequence (each sequence predicts its next SequenceLength tokens).</summary>
    public int SequenceLength { get; init; } = 128;

    public double PeakLearningRate { get; init; } = 1e-3;
    public int WarmupSteps { get; init; } = 100;
    public double MinLearningRateRatio { get; init; } = 0.1;
    public double WeightDecay { get; init; } = 0.01;
    public double ClipNorm { get; init; } = 1.0;

    /// <summary>Evaluate every this many steps (and after the last one); 0 = only after the last.</summary>
    public int EvalEvery { get; init; } = 50;
    public int EvalSequences { get; init; } = 32;
    public ulong Seed { get; init; } = 1;

    /// <summary>Write a resumable checkpoint every this many steps (0 = only after the last step or when cancelled).</summary>
    public int CheckpointEvery { get; init; }

    public void Validate()
    {
        if (Steps <= 0 || BatchSequences <= 0 || SequenceLength <= 1 || EvalSequences <= 0 || EvalEvery < 0 || CheckpointEvery < 0)
            throw new HeadMinerException($"invalid training options: steps {Steps}, batch {BatchSequences}, length {SequenceLength}, eval {EvalSequences} every {EvalEvery}");
        // Finite as well as positive: an infinite learning rate or clip norm would make the first update non-finite
        // (or throw inside the optimizer) instead of being refused here, where the message can name it.
        if (!(PeakLearningRate > 0) || !double.IsFinite(PeakLearningRate) || WarmupSteps < 0 || WarmupSteps > Steps || !(ClipNorm > 0) || !double.IsFinite(ClipNorm))
            throw new HeadMinerException($"invalid training options: learning rate {PeakLearningRate}, warm-up {WarmupSteps}, clip {ClipNorm}");
        if (!(WeightDecay >= 0) || !double.IsFinite(WeightDecay) || !(MinLearningRateRatio >= 0 && MinLearningRateRatio <= 1))
            throw new HeadMinerException($"invalid training options: weight decay {WeightDecay} must be finite and ≥ 0, minimum learning-rate ratio {MinLearningRateRatio} in [0, 1]");
    }
}
