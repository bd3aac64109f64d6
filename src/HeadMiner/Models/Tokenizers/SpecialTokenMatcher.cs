using System.Text.RegularExpressions;

namespace HeadMiner.Models.Tokenizers;

/// <summary>
/// Finds special (added) tokens in raw text before pre-tokenization, leftmost-longest like Hugging Face's
/// Aho-Corasick matcher, so "&lt;|endoftext|&gt;" in a prompt is the one token, not ten pieces of punctuation.
/// A token marked lstrip / rstrip (Phi-3's &lt;|user|&gt;, &lt;|assistant|&gt;, &lt;|end|&gt;) also takes the whitespace
/// before / after it, which then belongs to no other segment, as in Hugging Face tokenizers.
/// </summary>
internal sealed class SpecialTokenMatcher
{
    private readonly Regex? _regex;
    private readonly Dictionary<string, int> _ids;
    private readonly HashSet<string> _lstrip;
    private readonly HashSet<string> _rstrip;

    public SpecialTokenMatcher(IReadOnlyDictionary<string, int> specialTokens, IEnumerable<string>? lstrip = null, IEnumerable<string>? rstrip = null)
    {
        _ids = new Dictionary<string, int>(specialTokens, StringComparer.Ordinal);
        _lstrip = new HashSet<string>(lstrip ?? [], StringComparer.Ordinal);
        _rstrip = new HashSet<string>(rstrip ?? [], StringComparer.Ordinal);
        if (_ids.Count == 0) return;
        // Longer tokens first: regex alternation takes the first alternative that matches, so this is leftmost-longest.
        var alternatives = _ids.Keys.Where(k => k.Length > 0).OrderByDescending(k => k.Length).ThenBy(k => k, StringComparer.Ordinal)
            .Select(Regex.Escape);
        _regex = new Regex(string.Join('|', alternatives), RegexOptions.CultureInvariant);
    }

    public IReadOnlyDictionary<string, int> Tokens => _ids;

    /// <summary>The same tokens, with those named in <paramref name="lstrip"/> / <paramref name="rstrip"/> taking adjacent whitespace.</summary>
    public SpecialTokenMatcher WithStrip(IEnumerable<string> lstrip, IEnumerable<string> rstrip) => new(_ids, lstrip, rstrip);

    /// <summary>Consecutive segments of <paramref name="text"/>: ordinary text (SpecialId -1) or one special token.</summary>
    /// <remarks>Whitespace taken by an lstrip/rstrip token is in no segment, so segments may leave gaps.</remarks>
    public List<(int Start, int Length, int SpecialId)> Split(string text)
    {
        var segments = new List<(int, int, int)>();
        int end = 0;
        if (_regex is not null)
        {
            foreach (ValueMatch m in _regex.EnumerateMatches(text))
            {
                if (m.Index < end) continue; // inside whitespace an rstrip token took
                string token = text.Substring(m.Index, m.Length);
                int start = m.Index;
                if (_lstrip.Contains(token))
                {
                    while (start > end && char.IsWhiteSpace(text[start - 1])) start--;
                }
                if (start > end) segments.Add((end, start - end, -1));
                segments.Add((m.Index, m.Length, _ids[token]));
                end = m.Index + m.Length;
                if (_rstrip.Contains(token))
                {
                    while (end < text.Length && char.IsWhiteSpace(text[end])) end++;
                }
            }
        }
        if (end < text.Length) segments.Add((end, text.Length - end, -1));
        return segments;
    }
}
