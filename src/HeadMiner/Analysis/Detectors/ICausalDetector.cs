using HeadMiner.Hooks;

namespace HeadMiner.Analysis.Detectors;

/// <summary>
/// A detector whose head type has a task metric, so its labels can be confirmed causally: the atlas ablates each
/// labelled head alone and all of them together (zero, mean and resample ablation) and ranks the metric's change among
/// random heads' (the atlas's causal confirmation, <c>Analysis/Atlas/CausalConfirmation</c>). One metric per detector:
/// the most relevant one the model and tokenizer allow.
/// </summary>
public interface ICausalDetector : IHeadDetector
{
    /// <summary>The task and its metric for this model; null when the task cannot be built (the reason is <see cref="IHeadDetector.CannotRun"/>'s).</summary>
    CausalTask? CausalTask(DetectorContext context);
}

/// <summary>
/// A metric on a fixed prompt set. <see cref="Evaluate"/> runs the prompts with the given hooks (the ablations) and
/// returns the metric; it must be deterministic so the clean and ablated runs differ only by the hooks, and make the
/// same forwards (shapes, order) on every call (resample ablation replays recorded activations forward by forward).
/// </summary>
public sealed record CausalTask(string Metric, bool HigherIsBetter, Func<HookSet, double> Evaluate)
{
    /// <summary>
    /// Equal keys mean the same prompts and metric, so the atlas evaluates the shared ablations once (previous_token,
    /// duplicate_token and induction all use the repeated-tokens loss); null = not shared.
    /// </summary>
    public string? Key { get; init; }
}
