using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace HeadMiner.Models.Tokenizers;

/// <summary>
/// A pre-tokenizer split regex (GPT-2, cl100k / Llama 3, Qwen2, ...) with the semantics of the engines the reference
/// tokenizers use (Python regex, Rust fancy-regex, Oniguruma, JavaScript /u): classes such as \p{L} apply to code
/// points, not UTF-16 units. .NET regex sees a supplementary letter (𝐀, 𠀀) as two surrogates of category Cs, which
/// would put it in [^\s\p{L}\p{N}] and let [^\r\n\p{L}\p{N}]? take half of an emoji. So when the text has surrogates
/// we match on a stand-in string with one BMP character of the same Unicode category per code point and map the spans
/// back. Whole text splits into consecutive pieces: matches, and the gaps between them (Hugging Face's "Isolated").
/// </summary>
public sealed class PreTokenizerPattern
{
    /// <summary>GPT-2 (OpenAI encoder.py, tiktoken r50k/p50k, Hugging Face ByteLevel with use_regex).</summary>
    public const string Gpt2 = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    /// <summary>Llama 3's tokenizer.json Split pattern (tiktoken cl100k_base's, with \s+(?!\S)|\s+ for \s+$ etc.).</summary>
    public const string Llama3 = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>Qwen2's tokenizer.json Split pattern: Llama 3's with single digits.</summary>
    public const string Qwen2 = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    private static readonly char[] CategoryStandIn = BuildStandIns();
    private readonly Regex _regex;

    public string Pattern { get; }

    /// <summary>Compiles <paramref name="pattern"/>; <paramref name="where"/> names its source for error messages.</summary>
    public PreTokenizerPattern(string pattern, string where = "pre-tokenizer pattern")
    {
        Pattern = pattern;
        try
        {
            _regex = new Regex(ToDotNet(pattern), RegexOptions.Compiled | RegexOptions.CultureInvariant);
        }
        catch (ArgumentException e)
        {
            throw new HeadMinerException($"{where}: unsupported regex {pattern}: {e.Message}", e);
        }
    }

    /// <summary>Consecutive (start, length) pieces covering <paramref name="text"/>.</summary>
    public List<(int Start, int Length)> Split(string text)
    {
        var pieces = new List<(int, int)>();
        if (text.Length == 0) return pieces;
        if (!HasSurrogate(text))
        {
            int end = 0;
            foreach (ValueMatch m in _regex.EnumerateMatches(text))
            {
                if (m.Length == 0) continue;
                if (m.Index > end) pieces.Add((end, m.Index - end));
                pieces.Add((m.Index, m.Length));
                end = m.Index + m.Length;
            }
            if (end < text.Length) pieces.Add((end, text.Length - end));
            return pieces;
        }

        // Stand-in string: one char per code point; offsets[k] is where stand-in char k starts in text.
        var standIn = new StringBuilder(text.Length);
        var offsets = new List<int>(text.Length + 1);
        for (int i = 0; i < text.Length;)
        {
            offsets.Add(i);
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                var category = CharUnicodeInfo.GetUnicodeCategory(char.ConvertToUtf32(text[i], text[i + 1]));
                standIn.Append(CategoryStandIn[(int)category]);
                i += 2;
            }
            else
            {
                standIn.Append(text[i]); // a BMP char, or a lone surrogate (category Cs, as in the references)
                i++;
            }
        }
        offsets.Add(text.Length);
        string s = standIn.ToString();
        int last = 0;
        foreach (ValueMatch m in _regex.EnumerateMatches(s))
        {
            if (m.Length == 0) continue;
            if (m.Index > last) pieces.Add((offsets[last], offsets[m.Index] - offsets[last]));
            pieces.Add((offsets[m.Index], offsets[m.Index + m.Length] - offsets[m.Index]));
            last = m.Index + m.Length;
        }
        if (last < s.Length) pieces.Add((offsets[last], text.Length - offsets[last]));
        return pieces;
    }

    private static bool HasSurrogate(string text)
    {
        foreach (char c in text)
        {
            if (char.IsSurrogate(c)) return true;
        }
        return false;
    }

    /// <summary>
    /// Rewrites the syntax whose meaning differs in .NET: outside a character class, <c>$</c> means end of text in
    /// Rust, Oniguruma (tokenizer.json) and JS, but "end or before a final \n" in .NET, so it becomes <c>\z</c>;
    /// possessive quantifiers (<c>x++</c>, <c>x*+</c>, <c>x?+</c>) become atomic groups around the quantified atom;
    /// a case-insensitive group of plain letters (<c>(?i:'s|'t|...)</c>) is spelled out with Unicode simple case
    /// folding, because .NET's (?i) does not fold 'ſ' to 's' or 'K' (Kelvin sign) to 'k' and the references do.
    /// </summary>
    internal static string ToDotNet(string pattern)
    {
        pattern = ExpandCaseInsensitiveLiterals(pattern);
        var result = new StringBuilder(pattern.Length + 8);
        var atomStarts = new Stack<int>(); // result positions of open groups
        int lastAtomStart = -1;
        for (int i = 0; i < pattern.Length; i++)
        {
            char c = pattern[i];
            if (c == '\\' && i + 1 < pattern.Length)
            {
                lastAtomStart = result.Length;
                int end = i + 2;
                if (pattern[i + 1] is 'p' or 'P' && end < pattern.Length && pattern[end] == '{')
                {
                    end = pattern.IndexOf('}', end) + 1;
                    if (end == 0) end = pattern.Length;
                }
                result.Append(pattern, i, end - i);
                i = end - 1;
            }
            else if (c == '[')
            {
                lastAtomStart = result.Length;
                int end = ClassEnd(pattern, i);
                result.Append(pattern, i, end - i);
                i = end - 1;
            }
            else if (c == '(')
            {
                atomStarts.Push(result.Length);
                result.Append(c);
            }
            else if (c == ')')
            {
                result.Append(c);
                lastAtomStart = atomStarts.Count > 0 ? atomStarts.Pop() : -1;
            }
            else if (c == '$')
            {
                lastAtomStart = result.Length;
                result.Append(@"\z");
            }
            else if (c is '+' or '*' or '?' or '}' && i + 1 < pattern.Length && pattern[i + 1] == '+'
                     && lastAtomStart >= 0 && (c != '?' || !IsLazyMarker(pattern, i)))
            {
                result.Append(c);
                result.Insert(lastAtomStart, "(?>");
                result.Append(')');
                i++; // drop the possessive '+'
            }
            else
            {
                if (c is not ('+' or '*' or '?' or '{' or '}' or ',' or >= '0' and <= '9' or '|')) lastAtomStart = result.Length;
                if (c == '|') lastAtomStart = -1;
                result.Append(c);
            }
        }
        return result.ToString();
    }

    // (?i:...) holding only ASCII letters, apostrophes, '|' and classes of letters becomes (?:...) with each letter a
    // class of its simple case folding orbit: s -> [sSſ], k -> [kKK], other letters -> [xX]; inside a class the orbit
    // joins it ([sd] -> [sSſdD]), which covers tiktoken's own cl100k spelling '(?i:[sdmt]|ll|ve|re). Anything else is
    // left to .NET.
    private static string ExpandCaseInsensitiveLiterals(string pattern)
    {
        const string open = "(?i:";
        var result = new StringBuilder(pattern.Length * 2);
        int from = 0;
        for (int at = pattern.IndexOf(open, StringComparison.Ordinal); at >= 0; at = pattern.IndexOf(open, from, StringComparison.Ordinal))
        {
            int close = pattern.IndexOf(')', at);
            string body = close < 0 ? "" : pattern[(at + open.Length)..close];
            if (close < 0 || body.Length == 0 || !body.All(c => char.IsAsciiLetter(c) || c is '\'' or '|' or '[' or ']') || !FlatClasses(body))
            {
                result.Append(pattern, from, at + open.Length - from);
                from = at + open.Length;
                continue;
            }
            result.Append(pattern, from, at - from).Append("(?:");
            bool inClass = false;
            foreach (char c in body)
            {
                if (!char.IsAsciiLetter(c))
                {
                    if (c is '[' or ']') inClass = c == '[';
                    result.Append(c);
                    continue;
                }
                char lower = char.ToLowerInvariant(c);
                if (!inClass) result.Append('[');
                result.Append(lower).Append(char.ToUpperInvariant(c));
                if (lower == 's') result.Append('\u017F');
                if (lower == 'k') result.Append('\u212A');
                if (!inClass) result.Append(']');
            }
            result.Append(')');
            from = close + 1;
        }
        return result.Append(pattern, from, pattern.Length - from).ToString();
    }

    // Brackets that open and close in turn, never nested or empty: a class of plain letters.
    private static bool FlatClasses(string body)
    {
        bool inClass = false;
        for (int i = 0; i < body.Length; i++)
        {
            if (body[i] == '[')
            {
                if (inClass || i + 1 >= body.Length || body[i + 1] == ']') return false;
                inClass = true;
            }
            else if (body[i] == ']')
            {
                if (!inClass) return false;
                inClass = false;
            }
            else if (inClass && !char.IsAsciiLetter(body[i]))
            {
                return false;
            }
        }
        return !inClass;
    }

    // A '?' right after a quantifier is a lazy marker, not a quantifier of its own.
    private static bool IsLazyMarker(string pattern, int i) => i > 0 && pattern[i - 1] is '+' or '*' or '?' or '}';

    private static int ClassEnd(string pattern, int open)
    {
        int i = open + 1;
        if (i < pattern.Length && pattern[i] == '^') i++;
        if (i < pattern.Length && pattern[i] == ']') i++; // a leading ']' is literal
        while (i < pattern.Length && pattern[i] != ']')
        {
            i += pattern[i] == '\\' ? 2 : pattern[i] == '[' ? ClassEnd(pattern, i) - i : 1;
        }
        return Math.Min(i + 1, pattern.Length);
    }

    // For each Unicode category, a BMP character (>= U+0100, so never an ASCII letter that a pattern names, such as
    // the s of 's) that has it; categories with no BMP member keep U+FFFD's (So), which none of the patterns single out.
    private static char[] BuildStandIns()
    {
        var standIns = new char[32];
        Array.Fill(standIns, '\uFFFD');
        var found = new bool[32];
        for (int c = 0x100; c <= 0xFFFF; c++)
        {
            if (c is >= 0xD800 and <= 0xDFFF) continue;
            int category = (int)CharUnicodeInfo.GetUnicodeCategory((char)c);
            if (!found[category])
            {
                found[category] = true;
                standIns[category] = (char)c;
            }
        }
        return standIns;
    }
}
