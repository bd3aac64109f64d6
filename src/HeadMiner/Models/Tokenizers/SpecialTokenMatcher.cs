using System.Text.RegularExpressions;

namespace HeadMiner.Models.Tokenizers;

/// <summary>
/// Finds special (added) tokens in raw text before pre-tokenization, leftmost-longest like Hugging Face's
/// Aho-Corasick matcher, so "&lt;|endoftext|&gt;" in a prompt is the one token, not ten pieces of punctuation.
/// </summary>
internal sealed class SpecialTokenMatcher
{
    private readonly Regex? _regex;
    private readonly Dictionary<string, int> _ids;

    public SpecialTokenMatcher(IReadOnlyDictionary<string, int> specialTokens)
    {
        _ids = new Dictionary<string, int>(specialTokens, StringComparer.Ordinal);
        if (_ids.Count == 0) return;
        // Longer tokens first: regex alternation takes the first alternative that matches, so this is leftmost-longest.
        var alternatives = _ids.Keys.Where(k => k.Length > 0).OrderByDescending(k => k.Length).ThenBy(k => k, StringComparer.Ordinal)
            .Select(Regex.Escape);
        _regex = new Regex(string.Join('|', alternatives), RegexOptions.CultureInvariant);
    }

    public IReadOnlyDictionary<string, int> Tokens => _ids;

    /// <summary>Consecutive segments of <paramref name="text"/>: ordinary text (SpecialId -1) or one special token.</summary>
    public List<(int Start, int Length, int SpecialId)> Split(string text)
    {
        var segments = new List<(int, int, int)>();
        int end = 0;
        if (_regex is not null)
        {
            foreach (ValueMatch m in _regex.EnumerateMatches(text))
            {
                if (m.Index > end) segments.Add((end, m.Index - end, -1));
                segments.Add((m.Index, m.Length, _ids[text.Substring(m.Index, m.Length)]));
                end = m.Index + m.Length;
            }
        }
        if (end < text.Length) segments.Add((end, text.Length - end, -1));
        return segments;
    }
}
