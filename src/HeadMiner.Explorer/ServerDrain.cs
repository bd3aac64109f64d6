namespace HeadMiner.Explorer;

/// <summary>
/// How a shutdown went: the requests in flight when it began, and how many of them were still running when the
/// drain time ran out (Kestrel then aborts their connections and their computations are cancelled).
/// </summary>
public sealed record ServerDrain(int InFlight, int CutOff, TimeSpan Limit)
{
    /// <summary>One clause for the "interrupted" line: "2 requests in flight finished", "cut off 1 of 2 requests in flight after 30 s".</summary>
    public string Describe() => InFlight == 0 ? "no request was in flight"
        : CutOff == 0 ? $"{Requests(InFlight)} in flight finished"
        : string.Create(System.Globalization.CultureInfo.InvariantCulture, $"cut off {CutOff} of {Requests(InFlight)} in flight after {Limit.TotalSeconds:0.#} s");

    private static string Requests(int n) => n == 1 ? "1 request" : $"{n} requests";
}
