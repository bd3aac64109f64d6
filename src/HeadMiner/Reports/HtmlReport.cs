using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using HeadMiner.Tensors;

namespace HeadMiner.Reports;

/// <summary>
/// Builds a self-contained HTML report: inline CSS, the shared views script (<see cref="ReportAssets"/>) and the data
/// as inline JSON, drawn in the browser as SVG. Nothing is fetched, so the file works when opened from disk.
/// <para>The data is serialised with the default (HTML-safe) JSON encoder, which escapes &lt; and &gt;, so no value
/// can close the script element it sits in.</para>
/// </summary>
public sealed class HtmlReport(string title)
{
    private static readonly JsonSerializerOptions DataOptions = new() { WriteIndented = false, Converters = { new Tensors.Json.NonFiniteAsNullConverter() } };
    private readonly List<JsonObject> _sections = [];

    public string Title { get; } = title;

    /// <summary>The sections added so far, as the JSON specs the script renders (kind + fields).</summary>
    public IReadOnlyList<JsonObject> Sections => _sections;

    /// <summary>A paragraph of plain text (what was run, how to read the figures).</summary>
    public HtmlReport Text(string text, string? heading = null) =>
        Add(new JsonObject { ["kind"] = "text", ["title"] = heading, ["text"] = text });

    /// <summary>
    /// A heatmap of <paramref name="values"/>[row][column] with axis labels and a colour scale; null or non-finite
    /// cells are drawn grey. <paramref name="diverging"/> centres the scale on 0 (signed effects such as patching).
    /// </summary>
    public HtmlReport Heatmap(string heading, IReadOnlyList<string> rowLabels, IReadOnlyList<string> columnLabels, double?[][] values,
        string rowTitle, string columnTitle, bool diverging = false)
    {
        if (values.Length != rowLabels.Count) throw new ArgumentException($"heatmap \"{heading}\": {values.Length} rows of values for {rowLabels.Count} row labels");
        foreach (var row in values)
            if (row.Length != columnLabels.Count) throw new ArgumentException($"heatmap \"{heading}\": a row has {row.Length} values for {columnLabels.Count} column labels");
        return Add(new JsonObject
        {
            ["kind"] = "heatmap",
            ["title"] = heading,
            ["rows"] = Array(rowLabels),
            ["cols"] = Array(columnLabels),
            ["values"] = new JsonArray(values.Select(r => (JsonNode)new JsonArray(r.Select(v => v is double d ? Number(d) : null).ToArray())).ToArray()),
            ["rowTitle"] = rowTitle,
            ["colTitle"] = columnTitle,
            ["scale"] = diverging ? "diverging" : "sequential",
        });
    }

    /// <summary>
    /// A heatmap of a rank-2 tensor (rows × columns, e.g. layers × heads), for scripts: labels default to 0, 1, 2, …;
    /// non-finite cells are drawn grey.
    /// </summary>
    public HtmlReport Heatmap(string heading, Tensor matrix, string rowTitle, string columnTitle,
        IReadOnlyList<string>? rowLabels = null, IReadOnlyList<string>? columnLabels = null, bool diverging = false)
    {
        if (matrix.Rank != 2) throw new ArgumentException($"heatmap \"{heading}\": a {matrix.ShapeString} tensor is not a matrix (rank 2)");
        var values = new double[matrix.Dim(0), matrix.Dim(1)];
        for (int r = 0; r < values.GetLength(0); r++)
            for (int c = 0; c < values.GetLength(1); c++) values[r, c] = matrix[r, c];
        return Heatmap(heading, values, rowTitle, columnTitle, rowLabels, columnLabels, diverging);
    }

    /// <summary>A heatmap of a rows × columns array (NaN/±∞ drawn grey); labels default to 0, 1, 2, ….</summary>
    public HtmlReport Heatmap(string heading, double[,] matrix, string rowTitle, string columnTitle,
        IReadOnlyList<string>? rowLabels = null, IReadOnlyList<string>? columnLabels = null, bool diverging = false)
    {
        int rows = matrix.GetLength(0), cols = matrix.GetLength(1);
        var values = new double?[rows][];
        for (int r = 0; r < rows; r++)
        {
            values[r] = new double?[cols];
            for (int c = 0; c < cols; c++) values[r][c] = double.IsFinite(matrix[r, c]) ? matrix[r, c] : null;
        }
        return Heatmap(heading, rowLabels ?? Indices(rows), columnLabels ?? Indices(cols), values, rowTitle, columnTitle, diverging);
    }

    /// <summary>An attention pattern given as a [query, key] tensor (one head's slice of hook_pattern).</summary>
    public HtmlReport Attention(string heading, IReadOnlyList<string> tokens, Tensor pattern)
    {
        if (pattern.Rank != 2) throw new ArgumentException($"attention \"{heading}\": a {pattern.ShapeString} tensor is not a [query, key] matrix");
        return Attention(heading, tokens, Enumerable.Range(0, pattern.Dim(0)).Select(q => pattern.Select(0, q).ToArray()).ToArray());
    }

    /// <summary>An attention pattern as a query × key grid of <paramref name="tokens"/>, plus hover highlighting.</summary>
    public HtmlReport Attention(string heading, IReadOnlyList<string> tokens, float[][] pattern)
    {
        if (pattern.Length != tokens.Count || pattern.Any(r => r.Length != tokens.Count))
            throw new ArgumentException($"attention \"{heading}\": the pattern must be {tokens.Count} × {tokens.Count}");
        var values = new JsonArray(pattern.Select(r => (JsonNode)new JsonArray(r.Select(Number).ToArray())).ToArray());
        Add(new JsonObject { ["kind"] = "attention", ["title"] = heading, ["tokens"] = Array(tokens), ["pattern"] = values });
        return Add(new JsonObject { ["kind"] = "tokens", ["title"] = "hover a token to see where it attends", ["tokens"] = Array(tokens), ["pattern"] = values.DeepClone() });
    }

    /// <summary>A line chart: one series per name, points (x, y); non-finite y values leave a gap.</summary>
    public HtmlReport LineChart(string heading, string xTitle, string yTitle, IReadOnlyList<(string Name, double[] X, double?[] Y)> series, bool logY = false)
    {
        foreach (var s in series)
            if (s.X.Length != s.Y.Length) throw new ArgumentException($"line chart \"{heading}\": series {s.Name} has {s.X.Length} x and {s.Y.Length} y values");
        return Add(new JsonObject
        {
            ["kind"] = "line",
            ["title"] = heading,
            ["xTitle"] = xTitle,
            ["yTitle"] = yTitle,
            ["logY"] = logY,
            ["series"] = new JsonArray(series.Select(s => (JsonNode)new JsonObject
            {
                ["name"] = s.Name,
                ["x"] = new JsonArray(s.X.Select(Number).ToArray()),
                ["y"] = new JsonArray(s.Y.Select(v => v is double d ? Number(d) : null).ToArray()),
            }).ToArray()),
        });
    }

    /// <summary>
    /// A section drawn by view <paramref name="kind"/> of the shared scripts (e.g. "atlas", "flow") with its own fields;
    /// for views whose data is a whole document (an atlas) rather than a matrix or a table.
    /// </summary>
    public HtmlReport View(string kind, string? heading, JsonObject fields)
    {
        var section = new JsonObject { ["kind"] = kind, ["title"] = heading };
        foreach (var (key, value) in fields) section[key] = value?.DeepClone();
        return Add(section);
    }

    /// <summary>
    /// A table. A cell is a string, a number, a <see cref="TableLink"/> (shown as a link when it is http or https) or
    /// a <see cref="TableShade"/> (text on a tint proportional to a value in [0, 1]).
    /// </summary>
    public HtmlReport Table(string heading, IReadOnlyList<string> columns, IEnumerable<IReadOnlyList<object?>> rows)
    {
        var body = new JsonArray();
        foreach (var row in rows)
        {
            if (row.Count != columns.Count) throw new ArgumentException($"table \"{heading}\": a row has {row.Count} cells for {columns.Count} columns");
            body.Add(new JsonArray(row.Select(Cell).ToArray()));
        }
        return Add(new JsonObject { ["kind"] = "table", ["title"] = heading, ["columns"] = Array(columns), ["rows"] = body });
    }

    private static JsonNode? Cell(object? cell) => cell switch
    {
        null => null,
        string s => JsonValue.Create(s),
        double d => Number(d),
        float f => Number(f),
        int i => JsonValue.Create(i),
        TableLink l => new JsonObject { ["text"] = l.Text, ["href"] = l.Href },
        TableShade s => new JsonObject { ["text"] = s.Text, ["shade"] = double.IsFinite(s.Shade) ? s.Shade : null },
        _ => JsonValue.Create(cell.ToString()),
    };

    public string Render()
    {
        var data = new JsonObject { ["title"] = Title, ["sections"] = new JsonArray(_sections.Select(s => (JsonNode)s.DeepClone()).ToArray()) };
        var sb = new StringBuilder();
        sb.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>").Append(WebUtility.HtmlEncode(Title)).Append("</title>\n");
        sb.Append("<style>\nbody { margin: 1.5em; font: 14px system-ui, sans-serif; }\n").Append(ReportAssets.Style).Append("</style>\n</head>\n<body>\n");
        sb.Append("<h1>").Append(WebUtility.HtmlEncode(Title)).Append("</h1>\n<div id=\"hm-report\"></div>\n");
        sb.Append("<script type=\"application/json\" id=\"hm-report-data\">").Append(data.ToJsonString(DataOptions)).Append("</script>\n");
        sb.Append("<script>\n").Append(ReportAssets.Script).Append("\nHMViews.renderReport();\n</script>\n</body>\n</html>\n");
        return sb.ToString();
    }

    /// <summary>Writes <see cref="Render"/> to <paramref name="path"/> atomically.</summary>
    public void Write(string path) => AtomicFile.WriteAllText(path, Render());

    private HtmlReport Add(JsonObject section)
    {
        _sections.Add(section);
        return this;
    }

    // JSON has no NaN/±∞: such a number is a gap (null), which every view draws as missing. A float stays a float, so
    // it prints in its shortest form (0.3, not 0.30000001192092896).
    private static JsonNode? Number(double value) => double.IsFinite(value) ? JsonValue.Create(value) : null;

    private static JsonNode? Number(float value) => float.IsFinite(value) ? JsonValue.Create(value) : null;

    private static string[] Indices(int n) => [.. Enumerable.Range(0, n).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture))];

    private static JsonArray Array(IEnumerable<string> items) => new(items.Select(s => (JsonNode?)JsonValue.Create(s)).ToArray());
}

/// <summary>A table cell that links to <see cref="Href"/>.</summary>
public sealed record TableLink(string Text, string Href);

/// <summary>A table cell tinted by <see cref="Shade"/> in [0, 1].</summary>
public sealed record TableShade(string Text, double Shade);
