using System.Globalization;
using System.Text;
using HeadMiner.Tensors;
using HeadMiner.Tensors.Json;

namespace HeadMiner.Cli;

/// <summary>How commands write results: JSON (and CSV for tables), atomically, so a crash never leaves half a file.</summary>
public static class OutputFiles
{
    /// <summary>
    /// Writes <paramref name="value"/> as JSON. Non-finite numbers are written as null and listed under "non_finite"
    /// (docs/METHODS.md); a one-line note on <paramref name="notes"/> (stderr) says so, so that nulls never go unnoticed.
    /// </summary>
    public static FiniteJsonText WriteJson(string path, object value, TextWriter notes)
    {
        var text = FiniteJson.Serialize(value, JsonOutput.Options);
        AtomicFile.WriteAllText(path, text.Json + "\n");
        if (text.NonFinite.Count > 0) notes.WriteLine(text.Describe(path));
        return text;
    }

    /// <summary>
    /// A CSV table: a header row and rows of cells (numbers in invariant culture and shortest round-trip form — a
    /// float prints as a float, 0.3 — strings quoted when needed). NaN and ±∞ are empty cells, as in the JSON (null).
    /// </summary>
    public static void WriteCsv(string path, IReadOnlyList<string> header, IEnumerable<IReadOnlyList<object?>> rows)
    {
        var sb = new StringBuilder();
        sb.AppendLine(string.Join(",", header.Select(Cell)));
        foreach (var row in rows) sb.AppendLine(string.Join(",", row.Select(Cell)));
        AtomicFile.WriteAllText(path, sb.ToString());
    }

    internal static string Cell(object? value) => value switch
    {
        null => "",
        float f => float.IsFinite(f) ? f.ToString("R", CultureInfo.InvariantCulture) : "",
        double d => double.IsFinite(d) ? d.ToString("R", CultureInfo.InvariantCulture) : "",
        IFormattable n => n.ToString(null, CultureInfo.InvariantCulture),
        _ => Quote(value.ToString() ?? ""),
    };

    private static string Quote(string s) =>
        s.IndexOfAny([',', '"', '\n', '\r']) < 0 ? s : "\"" + s.Replace("\"", "\"\"") + "\"";
}
