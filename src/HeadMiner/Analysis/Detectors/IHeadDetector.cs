namespace HeadMiner.Analysis.Detectors;

/// <summary>
/// One way of recognising a head type: it gives every (layer, query head) a score, says above which score a head is
/// labelled with the type, and backs the labels with evidence a reader can check. Detectors are stateless; the
/// atlas asks <see cref="CannotRun"/> first and reports the reason instead of failing when a model lacks what a
/// detector needs (a tokenizer, W_E/W_U, the MLPs of a runnable model).
/// </summary>
public interface IHeadDetector
{
    /// <summary>Stable identifier (snake_case), used on the command line and in reports.</summary>
    string Id { get; }

    /// <summary>One line: what the head type does and how the score is defined.</summary>
    string Description { get; }

    DetectorKind Kind { get; }

    /// <summary>Null when the detector can run on <paramref name="context"/>; otherwise the reason it cannot.</summary>
    string? CannotRun(DetectorContext context);

    /// <summary>Scores every head. Throws <see cref="HeadMinerException"/> with <see cref="CannotRun"/>'s reason when it cannot run.</summary>
    DetectorResult Run(DetectorContext context, IProgress<double>? progress = null, CancellationToken cancel = default);
}
