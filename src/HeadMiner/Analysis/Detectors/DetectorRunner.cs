namespace HeadMiner.Analysis.Detectors;

/// <summary>
/// Runs one detector the way every command does (`detect`, `atlas`, the explorer): scores, then 95% bootstrap
/// intervals over the detector's units (<see cref="ScoreIntervals"/>), and — while some head's interval straddles
/// the threshold and the detector's units grow with <see cref="DetectorOptions.Prompts"/> — again with twice the
/// prompts, up to <see cref="DetectorOptions.MaxPrompts"/>. Prompts are drawn from one seeded stream, so a larger run
/// keeps the smaller run's prompts and adds new ones. <see cref="DetectorResult.Sampling"/> says how it ended:
/// decided, budget reached (with the undecided heads' count), or a fixed set.
/// </summary>
public static class DetectorRunner
{
    public static DetectorResult Run(IHeadDetector detector, DetectorContext context, IProgress<double>? progress = null, CancellationToken cancel = default)
    {
        var options = context.Options;
        options.Validate();
        int prompts = options.Prompts, budget = Math.Max(options.MaxPrompts, options.Prompts);
        while (true)
        {
            cancel.ThrowIfCancellationRequested();
            var run = context with { Options = options with { Prompts = prompts } };
            var result = WithIntervals(detector.Run(run, progress, cancel), options);
            if (result.Samples is not { } samples)
                return result with { Sampling = "exact: the score is a function of the weights (or of one batch), no interval" };
            int undecided = result.Undecided().Count;
            string units = $"{samples.Count} {samples.Unit}";
            if (undecided == 0)
                return result with { Sampling = $"decided at {units}: every head's interval is on one side of the threshold" };
            if (!samples.GrowsWithPrompts)
                return result with { Sampling = $"fixed set of {units}: {undecided} head(s) undecided (interval contains the threshold), left unlabelled" };
            if (prompts >= budget)
                return result with { Sampling = $"budget of {budget} prompts reached at {units}: {undecided} head(s) undecided, left unlabelled" };
            prompts = Math.Min(2 * prompts, budget);
        }
    }

    /// <summary><paramref name="result"/> with its bootstrap bounds attached (unchanged when it has no samples).</summary>
    public static DetectorResult WithIntervals(DetectorResult result, DetectorOptions options)
    {
        if (result.Samples is not { } samples) return result;
        int resamples = Math.Min(options.Resamples, samples.MaxResamples ?? int.MaxValue);
        var (low, high) = ScoreIntervals.Bootstrap(samples, result.Layers, result.Heads, resamples, options.Seed);
        return result with { Low = low, High = high };
    }
}
