using System.CommandLine;

namespace HeadMiner.Cli;

/// <summary>`--parquet`, the same in every command that writes CSV tables.</summary>
public static class TableOptions
{
    public static Option<bool> Parquet() => new("--parquet")
    {
        Description = "Also write each CSV table as Parquet beside it (same name, .parquet; pandas.read_parquet, pyarrow and polars read it)",
    };

    /// <summary>The line that names the Parquet files written, or nothing when there are none.</summary>
    public static void ReportWritten(TextWriter stdout, IEnumerable<string> files)
    {
        var parquet = files.Where(f => f.EndsWith(".parquet", StringComparison.Ordinal)).ToList();
        if (parquet.Count > 0) stdout.WriteLine($"wrote {string.Join(", ", parquet)}");
    }
}
