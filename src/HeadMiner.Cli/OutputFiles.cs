using HeadMiner.Reports.Tables;
using HeadMiner.Tensors;
using HeadMiner.Tensors.Json;

namespace HeadMiner.Cli;

/// <summary>How commands write results: JSON (and CSV for tables), atomically, so a crash never leaves half a file.</summary>
public static class OutputFiles
{
    /// <summary>
    /// Makes <paramref name="path"/> a directory this process can write into, before any work: a command that fails
    /// here costs nothing, one that failed after its last detector would lose the run. An existing file is a usage
    /// error (exit 2); a directory that cannot be created or written is a failure (exit 1). Both name the path.
    /// </summary>
    /// <returns><paramref name="path"/>, for use inline.</returns>
    public static string PrepareDirectory(string path, string option = "--out")
    {
        if (File.Exists(path)) throw new UsageException($"{option} {path}: is a file; give a directory for the outputs");
        if (FileAlong(path) is { } file) throw new UsageException($"{option} {path}: {file} is a file, not a directory");
        try
        {
            CreatedOutputFolders.Create(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            throw new HeadMinerException($"{option} {path}: cannot create the directory: {e.Message}");
        }
        ProbeWritable(path, option);
        return path;
    }

    /// <summary>
    /// Checks, before any work, that the file <paramref name="path"/> can be written: its folder is created and
    /// writable, and the path itself is not a directory.
    /// </summary>
    public static string PrepareFile(string path, string option = "--out")
    {
        if (Directory.Exists(path)) throw new UsageException($"{option} {path}: is a directory; give a file name");
        string folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        if (FileAlong(folder) is { } file) throw new UsageException($"{option} {path}: {file} is a file, not a directory");
        try
        {
            CreatedOutputFolders.Create(folder);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            throw new HeadMinerException($"{option} {path}: cannot create the directory {folder}: {e.Message}");
        }
        ProbeWritable(folder, option, path);
        return path;
    }

    /// <summary>
    /// The nearest existing ancestor of <paramref name="path"/> (or the path itself) when it is a file: the operating
    /// system's own message ("could not find a part of the path") would not say which part is wrong.
    /// </summary>
    private static string? FileAlong(string path)
    {
        for (string? p = Path.GetFullPath(path); !string.IsNullOrEmpty(p); p = Path.GetDirectoryName(p))
        {
            if (Directory.Exists(p)) return null;
            if (File.Exists(p)) return p;
        }
        return null;
    }

    /// <summary>
    /// Creates and deletes a probe file: permission bits alone do not tell (root ignores them; a read-only mount or a
    /// full disk does not show in them).
    /// </summary>
    private static void ProbeWritable(string folder, string option, string? named = null)
    {
        string probe = Path.Combine(folder, $".headminer-write-test-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            using (new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose)) { }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new HeadMinerException($"{option} {named ?? folder}: cannot write into {folder}: {e.Message}");
        }
        finally
        {
            // DeleteOnClose already removed it; this covers a platform where it did not.
            try { File.Delete(probe); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

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
    /// A CSV table (<see cref="CsvTable"/>): a header row and rows of cells (numbers in invariant culture and shortest
    /// round-trip form — a float prints as a float, 0.3 — strings quoted when needed). NaN and ±∞ are empty cells, as
    /// in the JSON (null).
    /// </summary>
    public static void WriteCsv(string path, IReadOnlyList<string> header, IEnumerable<IReadOnlyList<object?>> rows) =>
        CsvTable.Write(path, header, rows);

    internal static string Cell(object? value) => CsvTable.Cell(value);

    /// <summary>
    /// A table as CSV at <paramref name="csvPath"/> and, with <paramref name="parquet"/>, the same table as Parquet
    /// beside it (same name, .parquet). Returns the files written.
    /// </summary>
    public static IReadOnlyList<string> WriteTable(string csvPath, IReadOnlyList<string> header, IEnumerable<IReadOnlyList<object?>> rows, bool parquet,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = rows.ToList();
        CsvTable.Write(csvPath, header, list);
        if (!parquet) return [csvPath];
        string parquetPath = Path.ChangeExtension(csvPath, ".parquet");
        ParquetTable.Write(parquetPath, ResultTable.FromRows(header, list), metadata);
        return [csvPath, parquetPath];
    }
}
