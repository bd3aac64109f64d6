namespace HeadMiner.Models.Formats;

/// <summary>Picks the known names closest to a mistyped one, so "no tensor named X" errors can say what was meant.</summary>
internal static class NameSuggestions
{
    /// <summary>"; nearest: 'a', 'b'" for up to <paramref name="count"/> closest names, or "" when there are none.</summary>
    public static string Describe(string wanted, IEnumerable<string> known, int count = 5)
    {
        var nearest = Nearest(wanted, known, count).Select(name => $"'{ErrorText.Clip(name)}'").ToList();
        return nearest.Count == 0 ? "" : "; nearest: " + string.Join(", ", nearest);
    }

    /// <summary>Up to <paramref name="count"/> of <paramref name="known"/>, closest to <paramref name="wanted"/> first.</summary>
    public static IEnumerable<string> Nearest(string wanted, IEnumerable<string> known, int count) =>
        known.Select(name => (Name: name, Distance: Distance(wanted, name)))
            .OrderBy(x => x.Distance).ThenBy(x => x.Name, StringComparer.Ordinal)
            .Take(count)
            .Select(x => x.Name);

    /// <summary>Edit distance, except that a name containing the other (a missing prefix, say) counts as nearly equal.</summary>
    private static int Distance(string a, string b)
    {
        if (a.Length > 256 || b.Length > 256) return int.MaxValue; // absurd names: not worth quadratic work
        if (a.Contains(b, StringComparison.Ordinal) || b.Contains(a, StringComparison.Ordinal)) return 1;
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++) previous[j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int substitute = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
                current[j] = Math.Min(substitute, Math.Min(previous[j], current[j - 1]) + 1);
            }
            (previous, current) = (current, previous);
        }
        return previous[b.Length];
    }
}
