namespace HeadMiner.Training;

/// <summary>
/// One row of a <see cref="TrainingCurve"/>: what a trainer logs at an optimizer step. Null means "not measured at
/// this step" (an empty CSV cell; the chart connects the neighbouring measurements); NaN or ±∞ means "measured, and
/// it was not finite" (written as NaN/Infinity; the chart breaks the line there).
/// </summary>
/// <param name="Step">Optimizer steps taken when the row was recorded.</param>
/// <param name="Tokens">Training tokens consumed so far.</param>
/// <param name="TrainLoss">Mean training loss over the step (nats per token).</param>
/// <param name="EvalLosses">Evaluation losses by evaluation-set name (letters, digits, '_', '-', '.'); empty when none ran.</param>
/// <param name="LearningRate">The learning rate the step used.</param>
/// <param name="GradientNorm">Global gradient norm before clipping.</param>
/// <param name="TokensPerSecond">Training throughput over the step (or the logging interval).</param>
public sealed record TrainingCurvePoint(
    long Step,
    long Tokens,
    double? TrainLoss,
    IReadOnlyDictionary<string, double>? EvalLosses = null,
    double? LearningRate = null,
    double? GradientNorm = null,
    double? TokensPerSecond = null);
