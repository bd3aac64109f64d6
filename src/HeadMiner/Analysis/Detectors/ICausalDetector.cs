using HeadMiner.Hooks;

namespace HeadMiner.Analysis.Detectors;

/// <summary>
/// A detector whose head type has a task metric, so its labels can be confirmed causally: the atlas zero-ablates the
/// top-scoring heads together and compares the metric's change with ablating as many random other heads
/// (the atlas's causal confirmation).
/// </summary>
public interface ICausalDetector : IHeadDetector
{
    /// <summary>The task and its metric for this model; null when the task cannot be built (the reason is <see cref="IHeadDetector.CannotRun"/>'s).</summary>
    CausalTask? CausalTask(DetectorContext context);
}

/// <summary>
/// A metric on a fixed prompt set. <see cref="Evaluate"/> runs the prompts with the given hooks (the ablations) and
/// returns the metric; it must be deterministic so the clean and ablated runs differ only by the hooks.
/// </summary>
public sealed record CausalTask(string Metric, bool HigherIsBetter, Func<HookSet, double> Evaluate);
