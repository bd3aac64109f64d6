namespace HeadMiner.Cli;

/// <summary>
/// How progress goes to stderr: rewritten in place with '\r' on a terminal, or as whole lines at a lower rate when
/// stderr is a file, pipe or capture (a log would otherwise fill with carriage returns and hundreds of updates).
/// </summary>
public static class ProgressOutput
{
    /// <summary>
    /// True only for the process's own stderr attached to a terminal; any other writer (a redirected stderr, a test's
    /// StringWriter) gets whole lines.
    /// </summary>
    public static bool InPlace(TextWriter writer) => ReferenceEquals(writer, Console.Error) && !Console.IsErrorRedirected;

    /// <summary>Percent steps between whole-line reports.</summary>
    public const int LinePercentStep = 10;
}
