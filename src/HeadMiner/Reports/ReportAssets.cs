using System.Reflection;

namespace HeadMiner.Reports;

/// <summary>
/// The shared view components (views.js, views.css) embedded in the library, so the explorer page and every static
/// report draw heatmaps, attention grids and curves with the same code, and a report can inline them (no CDN, works
/// from file://).
/// </summary>
public static class ReportAssets
{
    // views.js first: atlas.js and flow.js register their view kinds on the HMViews it defines.
    private static readonly Lazy<string> ScriptText = new(() => string.Join("\n", Read("HeadMiner.Reports.views.js"), Read("HeadMiner.Reports.atlas.js"), Read("HeadMiner.Reports.flow.js")));
    private static readonly Lazy<string> StyleText = new(() => Read("HeadMiner.Reports.views.css"));

    /// <summary>
    /// views.js, atlas.js and flow.js as one script: defines the global <c>HMViews</c> (heatmap, attention, tokens,
    /// multiples, line, bars, table, atlas, flow).
    /// </summary>
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
