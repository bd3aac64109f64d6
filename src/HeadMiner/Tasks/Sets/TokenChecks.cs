using HeadMiner.Models.Tokenizers;

namespace HeadMiner.Tasks.Sets;

/// <summary>
/// Tokenizer questions the generators share. "Single token" always means: after some text, " word" adds exactly one
/// token and leaves the text's tokens alone — how the word will appear inside a prompt — so SentencePiece's dummy
/// prefix and byte-level BPE's leading-space tokens are judged the same way.
/// </summary>
internal static class TokenChecks
{
    private const string Context = "The";

    /// <summary>
    /// The one token <paramref name="continuation"/> adds after <paramref name="context"/>, or null — also when the
    /// tokenizer cannot encode the text at all (a word-level vocabulary refuses unknown words).
    /// </summary>
    public static int? SingleTokenAfter(ITokenizer tokenizer, string context, string continuation)
    {
        int[] before, after;
        try
        {
            before = tokenizer.Encode(context, addBos: false);
            after = tokenizer.Encode(context + continuation, addBos: false);
        }
        catch (HeadMinerException)
        {
            return null;
        }
        if (after.Length != before.Length + 1 || !after.AsSpan(0, before.Length).SequenceEqual(before)) return null;
        return after[^1];
    }

    /// <summary>Whether " <paramref name="word"/>" is one token inside a prompt.</summary>
    public static bool IsSingleWord(ITokenizer tokenizer, string word) => SingleTokenAfter(tokenizer, Context, " " + word) is not null;

    /// <summary>
    /// The words of <paramref name="words"/> that are single tokens with a leading space, in order, without
    /// duplicates. The tokenizer's vocabulary is scanned first (<see cref="VocabularyWords"/>): only words that are
    /// a vocabulary entry's text are tried in context, so a list of hundreds costs one scan.
    /// </summary>
    public static List<string> SingleWords(ITokenizer tokenizer, IEnumerable<string> words)
    {
        var vocabulary = VocabularyWords(tokenizer);
        return words.Distinct().Where(w => vocabulary.Contains(w) && IsSingleWord(tokenizer, w)).ToList();
    }

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<ITokenizer, HashSet<string>> Vocabularies = [];

    /// <summary>
    /// The text of every vocabulary entry, without its leading space (" Lily" and "Lily" both give "Lily"): a word
    /// can be one token only if it is one of these. Computed once per tokenizer.
    /// </summary>
    public static IReadOnlySet<string> VocabularyWords(ITokenizer tokenizer) => Vocabularies.GetValue(tokenizer, t =>
    {
        var set = new HashSet<string>(StringComparer.Ordinal);
        for (int id = 0; id < t.VocabSize; id++)
        {
            string text = t.TokenToString(id);
            set.Add(text.Length > 1 && text[0] == ' ' ? text[1..] : text);
        }
        return set;
    });

    /// <summary>
    /// Fails with "SET needs N single-token WHAT; found K in this vocabulary: a, b, c" when fewer than
    /// <paramref name="needed"/> of <paramref name="words"/> are single tokens; the message names what is missing.
    /// </summary>
    public static List<string> Require(ITokenizer tokenizer, string set, string what, IEnumerable<string> words, int needed)
    {
        var found = SingleWords(tokenizer, words);
        if (found.Count < needed) throw new HeadMinerException(Missing(set, $"{needed} single-token {what}", found));
        return found;
    }

    /// <summary>"SET needs WHAT; found K in this vocabulary: a, b, c" (the first 12 named).</summary>
    public static string Missing(string set, string what, IReadOnlyCollection<string> found) =>
        $"{set} needs {what}; found {found.Count} in this vocabulary{(found.Count == 0 ? "" : ": " + string.Join(", ", found.Take(12)) + (found.Count > 12 ? ", …" : ""))}";

    /// <summary>
    /// Fails with "SET: this vocabulary cannot spell English text (…)" when the tokenizer refuses a plain English
    /// sentence, as a word-level toy vocabulary does; sets whose prompts are English sentences call it first.
    /// </summary>
    public static void RequireEnglish(ITokenizer tokenizer, string set)
    {
        try
        {
            tokenizer.Encode("The cat sat on the mat, and then it went to the park.", addBos: false);
        }
        catch (HeadMinerException e)
        {
            throw new HeadMinerException($"{set}: this vocabulary cannot spell English text, and the set's prompts are English sentences ({e.Message})");
        }
    }

    /// <summary>
    /// Of <paramref name="words"/>, the single-token ones when there are any; else the largest group that encodes to
    /// the same number of tokens after <paramref name="context"/> (a small vocabulary spells "park" in pieces, and
    /// pairs must share one length). Empty only when none can be encoded.
    /// </summary>
    public static List<string> SameLengthWords(ITokenizer tokenizer, string context, IEnumerable<string> words)
    {
        var single = SingleWords(tokenizer, words);
        if (single.Count > 0) return single;
        int? Length(string w)
        {
            try
            {
                return tokenizer.Encode(context + " " + w, addBos: false).Length - tokenizer.Encode(context, addBos: false).Length;
            }
            catch (HeadMinerException)
            {
                return null;
            }
        }
        var groups = words.Distinct().Select(w => (Word: w, Length: Length(w))).Where(x => x.Length is > 0)
            .GroupBy(x => x.Length!.Value).OrderByDescending(g => g.Count()).ThenBy(g => g.Key).FirstOrDefault();
        return groups is null ? [] : groups.Select(x => x.Word).ToList();
    }

    /// <summary>
    /// The index, in the token ids of <paramref name="prompt"/>, of the last token of <paramref name="prompt"/>'s
    /// first <paramref name="prefixLength"/> characters, when those characters tokenize as a prefix of the whole
    /// (so the position is the same in both); null when a merge crosses the cut.
    /// </summary>
    public static int? LastTokenOfPrefix(ITokenizer tokenizer, int[] promptIds, string prompt, int prefixLength)
    {
        var prefix = tokenizer.Encode(prompt[..prefixLength]);
        if (prefix.Length == 0 || prefix.Length > promptIds.Length || !promptIds.AsSpan(0, prefix.Length).SequenceEqual(prefix)) return null;
        return prefix.Length - 1;
    }

    /// <summary>A Fisher–Yates shuffle of a copy of <paramref name="items"/>.</summary>
    public static List<T> Shuffled<T>(Tensors.SeededRandom random, IEnumerable<T> items)
    {
        var list = items.ToList();
        for (int i = list.Count - 1; i > 0; i--)
        {
            int j = random.NextInt(i + 1);
            (list[i], list[j]) = (list[j], list[i]);
        }
        return list;
    }

    /// <summary><paramref name="count"/> distinct items drawn from <paramref name="items"/>.</summary>
    public static List<T> Draw<T>(Tensors.SeededRandom random, IReadOnlyList<T> items, int count)
    {
        var picked = new HashSet<int>();
        var result = new List<T>(count);
        while (result.Count < count)
        {
            int i = random.NextInt(items.Count);
            if (picked.Add(i)) result.Add(items[i]);
        }
        return result;
    }
}
