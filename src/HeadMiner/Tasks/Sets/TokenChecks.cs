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

    /// <summary>The one token <paramref name="continuation"/> adds after <paramref name="context"/>, or null.</summary>
    public static int? SingleTokenAfter(ITokenizer tokenizer, string context, string continuation)
    {
        var before = tokenizer.Encode(context, addBos: false);
        var after = tokenizer.Encode(context + continuation, addBos: false);
        if (after.Length != before.Length + 1 || !after.AsSpan(0, before.Length).SequenceEqual(before)) return null;
        return after[^1];
    }

    /// <summary>Whether " <paramref name="word"/>" is one token inside a prompt.</summary>
    public static bool IsSingleWord(ITokenizer tokenizer, string word) => SingleTokenAfter(tokenizer, Context, " " + word) is not null;

    /// <summary>The words of <paramref name="words"/> that are single tokens with a leading space, in order, without duplicates.</summary>
    public static List<string> SingleWords(ITokenizer tokenizer, IEnumerable<string> words) =>
        words.Distinct().Where(w => IsSingleWord(tokenizer, w)).ToList();

    /// <summary>Fails with "<paramref name="set"/>: fewer than N single-token WHAT (found: …)" when the list is too short.</summary>
    public static List<string> Require(ITokenizer tokenizer, string set, string what, IEnumerable<string> words, int needed)
    {
        var found = SingleWords(tokenizer, words);
        if (found.Count < needed)
        {
            string list = found.Count == 0 ? "none" : string.Join(", ", found.Take(12));
            throw new HeadMinerException($"{set}: fewer than {needed} {what} are single tokens with a leading space for this tokenizer (found {found.Count}: {list})");
        }
        return found;
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
