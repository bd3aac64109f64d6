namespace HeadMiner.Cli;

/// <summary>
/// The environment variables the CLI reads (the Hugging Face cache settings). The real process environment unless a
/// caller in this async flow installed its own with <see cref="Use"/>: in-process tests run commands in parallel, and
/// setting process variables would leak between them.
/// </summary>
public static class CliEnvironment
{
    private static readonly AsyncLocal<IReadOnlyDictionary<string, string>?> Override = new();

    /// <summary>The value of <paramref name="name"/>, or null when unset.</summary>
    public static string? Variable(string name) =>
        Override.Value is { } vars ? vars.GetValueOrDefault(name) : Environment.GetEnvironmentVariable(name);

    /// <summary>Makes <paramref name="variables"/> the whole environment for this async flow until disposed.</summary>
    public static IDisposable Use(IReadOnlyDictionary<string, string> variables)
    {
        var previous = Override.Value;
        Override.Value = variables;
        return new Restore(previous);
    }

    private sealed class Restore(IReadOnlyDictionary<string, string>? previous) : IDisposable
    {
        public void Dispose() => Override.Value = previous;
    }
}
