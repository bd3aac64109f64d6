using System.Globalization;
using System.Text;
using HeadMiner.Tensors;

namespace HeadMiner.Reports.Tables;

/// <summary>
/// CSV tables: a header row and rows of cells, numbers in invariant culture and shortest round-trip form (a float
/// prints as a float, 0.3), strings quoted when needed; NaN, ±∞ and null are empty cells (null in the JSON outputs).
/// Written atomically. pandas.read_csv and numpy.genfromtxt read them as they are.
/// </summary>
public static class CsvTable
{
    public static void Write(string path, IReadOnlyList<string> header, IEnumerable<IReadOnlyList<object?>> rows)
    {
        var sb = new StringBuilder();
        sb.AppendLine(string.Join(",", header.Select(Cell)));
        foreach (var row in rows) sb.AppendLine(string.Join(",", row.Select(Cell)));
        AtomicFile.WriteAllText(path, sb.ToString());
    }

    /// <summary>One cell's text.</summary>
    public static string Cell(object? value) => value switch
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
