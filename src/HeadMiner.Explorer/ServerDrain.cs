namespace HeadMiner.Explorer;

/// <summary>
/// How a shutdown went: the requests in flight when it began, and how many of them were still running when the
/// drain time ran out (Kestrel then aborts their connections and their computations are cancelled).
/// </summary>
public sealed record ServerDrain(int InFlight, int CutOff, TimeSpan Limit)
{
    /// <summary>One clause for the "interrupted" line, e.g. "2 requests in flight finished".</summary>
    public string Describe() => InFlight == 0 ? "no request was in flight"
        : CutOff == 0 ? $"{Requests(InFlight)} in flight finished"
        : $"{CutOff} of {Requests(InFlight)} in flight did not finish within {Limit.TotalSeconds:0.#} s and were cut off";

    private static string Requests(int n) => n == 1 ? "1 request" : $"{n} requests";
}
