namespace HeadMiner.Training;

/// <summary>
/// Training stopped because step <see cref="Step"/> produced a value that is not finite (the loss, the gradient norm,
/// a weight or optimizer moment after the update, or a held-out loss). The trainer has already rolled back to the
/// state before that step — the last finite one — and passed it to its checkpoint callback, so
/// <see cref="Trainer.NextStep"/> equals <see cref="Step"/> and a checkpoint written from it holds finite weights.
/// </summary>
public sealed class TrainingDivergedException(int step, double loss, double gradientNorm, double learningRate, string reason)
    : HeadMinerException($"training diverged at step {step}: {reason} (loss {NonFiniteValues.Text(loss)}, gradient norm {NonFiniteValues.Text(gradientNorm)}, learning rate {NonFiniteValues.Text(learningRate)})")
{
    /// <summary>The step that was not taken; the kept state is the one before it.</summary>
    public int Step { get; } = step;

    public double Loss { get; } = loss;
    public double GradientNorm { get; } = gradientNorm;
    public double LearningRate { get; } = learningRate;
}
