namespace HeadMiner.Training;

/// <summary>Which quantity of a <see cref="TrainingCurve"/> a chart plots against the step.</summary>
public enum TrainingCurvePlot
{
    /// <summary>Train loss and every evaluation loss, one line each.</summary>
    Loss,
    LearningRate,
    GradientNorm,
    TokensPerSecond,
}
