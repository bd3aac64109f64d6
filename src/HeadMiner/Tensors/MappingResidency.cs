using System.Globalization;

namespace HeadMiner.Tensors;

/// <summary>
/// One mapping of this process as /proc/self/smaps describes it: its size, how much of it is resident, and how much
/// of that is mapped in 2 MiB pages (file pages: <c>FilePmdMapped</c>; anonymous ones: <c>AnonHugePages</c>).
/// </summary>
/// <remarks>
/// Benchmarks print this next to their times, because the page size of a mapped checkpoint moves a forward's time
/// by up to 20% on this project's machines (<see cref="AlignedChunkStream"/>), and nothing else shows it.
/// </remarks>
public sealed record MappingResidency(long SizeBytes, long ResidentBytes, long HugePageBytes, string VmFlags)
{
    /// <summary>Whether the mapping was advised MADV_HUGEPAGE ("hg" among its VmFlags).</summary>
    public bool AdvisedHugePages => (" " + VmFlags + " ").Contains(" hg ", StringComparison.Ordinal);

    /// <summary>"400 of 475 MiB resident, 399 MiB of it in 2 MiB pages".</summary>
    public override string ToString() =>
        $"{ResidentBytes >> 20} of {SizeBytes >> 20} MiB resident, {HugePageBytes >> 20} MiB of it in 2 MiB pages";

    /// <summary>The mapping that holds <paramref name="address"/>; null where /proc/self/smaps does not exist or no mapping holds it.</summary>
    public static MappingResidency? Read(nint address) =>
        File.Exists(SmapsPath) ? Parse(File.ReadLines(SmapsPath), (lo, hi, _) => (ulong)address >= lo && (ulong)address < hi) : null;

    /// <summary>
    /// All of this process's mappings of the file at <paramref name="path"/> (a symbolic link is followed) summed, with the
    /// first one's flags; null where /proc/self/smaps does not exist or the process has not mapped the file.
    /// </summary>
    public static MappingResidency? OfFile(string path)
    {
        if (!File.Exists(SmapsPath)) return null;
        string full = new FileInfo(path).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? Path.GetFullPath(path);
        return Parse(File.ReadLines(SmapsPath), (_, _, mapped) => mapped == full);
    }

    private const string SmapsPath = "/proc/self/smaps";

    /// <summary>
    /// Parses smaps text: per mapping a header line "lo-hi perms offset dev inode [path]" (hex bounds), then "Key: value
    /// kB" fields, VmFlags last. Sums the mappings <paramref name="wanted"/> picks.
    /// </summary>
    internal static MappingResidency? Parse(IEnumerable<string> lines, Func<ulong, ulong, string, bool> wanted)
    {
        bool inside = false, any = false;
        long size = 0, rss = 0, huge = 0;
        string? flags = null;
        foreach (string line in lines)
        {
            if (IsHeader(line, out ulong lo, out ulong hi, out string mappedPath))
            {
                inside = wanted(lo, hi, mappedPath);
                if (inside)
                {
                    any = true;
                    size += (long)(hi - lo);
                }
                continue;
            }
            if (!inside) continue;
            if (line.StartsWith("Rss:", StringComparison.Ordinal)) rss += Kilobytes(line);
            else if (line.StartsWith("FilePmdMapped:", StringComparison.Ordinal) || line.StartsWith("AnonHugePages:", StringComparison.Ordinal)) huge += Kilobytes(line);
            else if (line.StartsWith("VmFlags:", StringComparison.Ordinal)) flags ??= line["VmFlags:".Length..].Trim();
        }
        return any ? new MappingResidency(size, rss, huge, flags ?? "") : null;
    }

    private static bool IsHeader(string line, out ulong lo, out ulong hi, out string mappedPath)
    {
        lo = hi = 0;
        mappedPath = "";
        int space = line.IndexOf(' ');
        if (space <= 0) return false;
        var range = line.AsSpan(0, space);
        int dash = range.IndexOf('-');
        if (dash <= 0
            || !ulong.TryParse(range[..dash], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out lo)
            || !ulong.TryParse(range[(dash + 1)..], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out hi))
            return false;
        // perms, offset, dev and inode, then the path (which may hold spaces), if any
        var fields = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length == 6) mappedPath = fields[5].Trim();
        return true;
    }

    // "FilePmdMapped:    483328 kB" → bytes
    private static long Kilobytes(string line)
    {
        var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return fields.Length >= 2 && long.TryParse(fields[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out long kb) ? kb * 1024 : 0;
    }
}
