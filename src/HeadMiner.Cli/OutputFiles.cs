using System.Globalization;
using System.Text;
using System.Text.Json;
using HeadMiner.Tensors;

namespace HeadMiner.Cli;

/// <summary>How commands write results: JSON (and CSV for tables), atomically, so a crash never leaves half a file.</summary>
public static class OutputFiles
{
    public static void WriteJson(string path, object value) =>
        AtomicFile.WriteAllText(path, JsonSerializer.Serialize(value, JsonOutput.Options) + "\n");

    /// <summary>A CSV table: a header row and rows of cells (numbers in invariant culture, strings quoted when needed).</summary>
    public static void WriteCsv(string path, IReadOnlyList<string> header, IEnumerable<IReadOnlyList<object?>> rows)
    {
        var sb = new StringBuilder();
        sb.AppendLine(string.Join(",", header.Select(Cell)));
        foreach (var row in rows) sb.AppendLine(string.Join(",", row.Select(Cell)));
        AtomicFile.WriteAllText(path, sb.ToString());
    }

    private static string Cell(object? value) => value switch
    {
        null => "",
        float f => f.ToString("R", CultureInfo.InvariantCulture),
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        IFormattable n => n.ToString(null, CultureInfo.InvariantCulture),
        _ => Quote(value.ToString() ?? ""),
    };

    private static string Quote(string s) =>
        s.IndexOfAny([',', '"', '\n', '\r']) < 0 ? s : "\"" + s.Replace("\"", "\"\"") + "\"";
}
