using HeadMiner.Reports;

namespace HeadMiner.Explorer;

/// <summary>The page and its scripts, embedded in the assembly: the shared views (from the library) plus the explorer's own.</summary>
public static class ExplorerAssets
{
    private static readonly Dictionary<string, (string ContentType, Lazy<string> Text)> Files = new(StringComparer.Ordinal)
    {
        ["/"] = ("text/html; charset=utf-8", new(() => Read("HeadMiner.Explorer.index.html"))),
        ["/assets/explorer.js"] = ("text/javascript; charset=utf-8", new(() => Read("HeadMiner.Explorer.explorer.js"))),
        ["/assets/explorer.css"] = ("text/css; charset=utf-8", new(() => Read("HeadMiner.Explorer.explorer.css"))),
        ["/assets/views.js"] = ("text/javascript; charset=utf-8", new(() => ReportAssets.Script)),
        ["/assets/views.css"] = ("text/css; charset=utf-8", new(() => ReportAssets.Style)),
    };

    public static IEnumerable<string> Paths => Files.Keys;

    public static (string ContentType, string Text) Get(string path) => (Files[path].ContentType, Files[path].Text.Value);

    private static string Read(string name)
    {
        using var stream = typeof(ExplorerAssets).Assembly.GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"embedded resource {name} is missing");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
