namespace HeadMiner.Explorer;

/// <summary>
/// What one request may cost. Every request is bounded in size (body bytes, prompt characters, tokens ≤ the model's
/// context) and in time (a deadline that cancels the computation, as does the client going away).
/// </summary>
public sealed record ExplorerLimits
{
    /// <summary>Largest request body; bigger bodies get 413 before anything is parsed.</summary>
    public long MaxBodyBytes { get; init; } = 64 * 1024;

    /// <summary>Longest prompt text (characters) accepted before tokenising.</summary>
    public int MaxPromptChars { get; init; } = 16 * 1024;

    /// <summary>Most top tokens a request may ask for (logit lens, next-token distributions).</summary>
    public int MaxTop { get; init; } = 50;

    /// <summary>Deadline of one request, queueing included; past it the computation is cancelled and the answer is 503.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Computations running at once; further requests wait (within their deadline) for a slot.</summary>
    public int MaxConcurrentComputations { get; init; } = Math.Max(1, Environment.ProcessorCount);
}
