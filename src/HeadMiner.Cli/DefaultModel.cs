namespace HeadMiner.Cli;

/// <summary>
/// The model every command uses when --model is omitted: the embedded model shipped in the repository
/// (models/embedded, next to the solution) or beside the installed tool.
/// </summary>
public static class DefaultModel
{
    public const string DirectoryName = "embedded";

    /// <summary>The embedded model's directory, or null when it cannot be found.</summary>
    public static string? Path
    {
        get
        {
            foreach (var candidate in Candidates())
                if (File.Exists(System.IO.Path.Combine(candidate, "config.json"))) return candidate;
            return null;
        }
    }

    private static IEnumerable<string> Candidates()
    {
        yield return System.IO.Path.Combine(AppContext.BaseDirectory, "models", DirectoryName);
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(System.IO.Path.Combine(d.FullName, "HeadMiner.slnx")))
                yield return System.IO.Path.Combine(d.FullName, "models", DirectoryName);
    }
}
