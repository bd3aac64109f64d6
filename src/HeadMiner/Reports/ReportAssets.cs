using System.Reflection;

namespace HeadMiner.Reports;

/// <summary>
/// The shared view components (views.js, views.css) embedded in the library, so the explorer page and every static
/// report draw heatmaps, attention grids and curves with the same code, and a report can inline them (no CDN, works
/// from file://).
/// </summary>
public static class ReportAssets
{
    private static readonly Lazy<string> ScriptText = new(() => Read("HeadMiner.Reports.views.js"));
    private static readonly Lazy<string> StyleText = new(() => Read("HeadMiner.Reports.views.css"));

    /// <summary>views.js: defines the global <c>HMViews</c> (heatmap, attention, tokens, multiples, line, bars).</summary>
    public static string Script => ScriptText.Value;

    public static string Style => StyleText.Value;

    private static string Read(string name)
    {
        using var stream = typeof(ReportAssets).Assembly.GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"embedded resource {name} is missing from {typeof(ReportAssets).Assembly.GetName().Name}");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
