using System.Runtime.CompilerServices;
using HeadMiner.Models.Tokenizers;

namespace HeadMiner.Tasks;

/// <summary>
/// Which token ids are "ordinary text" for random-token prompts: ids the tokenizer actually produces for some text.
/// Left out, each for a reason a reader can check: special tokens (BOS/EOS/unk/added tokens), byte-fallback pieces
/// (a SentencePiece &lt;0x41&gt; that ordinary text never produces because "A" has its own piece), tokens whose text
/// holds a control character (newline, tab: structure, not words), and tokens that the tokenizer never emits — the
/// text a token decodes to does not encode back to it in any of a few contexts (intermediate BPE merges, pieces
/// shadowed by longer ones). Byte-level BPE tokens that hold part of a UTF-8 character are left out too: alone they
/// are not text. A random-token prompt of such ids is a sequence the model has never seen, and heads
/// behave differently on it (stories260K's previous-token heads pass their threshold only with byte pieces).
/// The answer depends only on the tokenizer, so it is computed once per tokenizer instance.
/// </summary>
public static class PromptVocabulary
{
    /// <summary>Why an id is not ordinary (null when it is).</summary>
    public enum Exclusion { None, Special, ByteFallback, PartialCharacter, Control, NeverProduced }

    private static readonly ConditionalWeakTable<ITokenizer, Exclusion[]> Cache = new();

    // Texts tried before a token: a suffix piece ("ing") is produced after a word, a word piece after a space.
    private static readonly string[] Contexts = ["", " the", " a", "x", "."];

    /// <summary>The exclusion of every id of <paramref name="tokenizer"/> (index = id).</summary>
    public static IReadOnlyList<Exclusion> Classify(ITokenizer tokenizer) => Cache.GetValue(tokenizer, Compute);

    /// <summary>The ordinary ids below <paramref name="limit"/>, ascending.</summary>
    public static int[] Ordinary(ITokenizer tokenizer, int limit)
    {
        var classes = Classify(tokenizer);
        var ids = new List<int>();
        for (int id = 0; id < Math.Min(limit, classes.Count); id++)
            if (classes[id] == Exclusion.None) ids.Add(id);
        return [.. ids];
    }

    /// <summary>How many ids each exclusion removed (for notes).</summary>
    public static string Summary(ITokenizer tokenizer, int limit)
    {
        var classes = Classify(tokenizer).Take(limit).ToArray();
        var counts = classes.GroupBy(c => c).ToDictionary(g => g.Key, g => g.Count());
        int Count(Exclusion e) => counts.TryGetValue(e, out int n) ? n : 0;
        return $"{Count(Exclusion.None)} of {classes.Length} ids are ordinary text; left out: {Count(Exclusion.Special)} special, "
            + $"{Count(Exclusion.ByteFallback)} byte-fallback, {Count(Exclusion.PartialCharacter)} partial UTF-8 characters, {Count(Exclusion.Control)} with control characters, {Count(Exclusion.NeverProduced)} never produced by the tokenizer";
    }

    private static Exclusion[] Compute(ITokenizer tokenizer)
    {
        var result = new Exclusion[tokenizer.VocabSize];
        var contextIds = Contexts.Select(c => TryEncode(tokenizer, c)).ToArray();
        // SentencePiece byte-fallback pieces are spelled <0xNN> in the vocabulary (they render as their character).
        var bytePieces = new HashSet<int>();
        for (int b = 0; b < 256; b++)
            if (tokenizer.TokenToId($"<0x{b:X2}>") is int piece) bytePieces.Add(piece);
        for (int id = 0; id < result.Length; id++)
        {
            if (bytePieces.Contains(id)) { result[id] = Exclusion.ByteFallback; continue; }
            if (id == tokenizer.BosId || id == tokenizer.EosId) { result[id] = Exclusion.Special; continue; }
            string shown = tokenizer.TokenToString(id);
            if (shown.Length > 2 && shown[0] == '<' && shown[^1] == '>')
            {
                // Special tokens and lone bytes both render as <…>; a lone byte is <0xNN>.
                result[id] = shown.StartsWith("<0x", StringComparison.Ordinal) && shown.Length == 6 ? Exclusion.PartialCharacter : Exclusion.Special;
                continue;
            }
            string text = tokenizer.Decode([id]);
            if (text.Length == 0 || text.Contains('\uFFFD')) { result[id] = Exclusion.PartialCharacter; continue; }
            if (text.Any(char.IsControl)) { result[id] = Exclusion.Control; continue; }
            result[id] = Produced(tokenizer, id, text, contextIds) ? Exclusion.None : Exclusion.NeverProduced;
        }
        return result;
    }

    // A word-level vocabulary cannot spell every context; such a context is not tried.
    private static int[]? TryEncode(ITokenizer tokenizer, string text)
    {
        if (text.Length == 0) return [];
        try
        {
            return tokenizer.Encode(text, addBos: false);
        }
        catch (HeadMinerException)
        {
            return null;
        }
    }

    private static bool Produced(ITokenizer tokenizer, int id, string text, int[]?[] contextIds)
    {
        for (int c = 0; c < Contexts.Length; c++)
        {
            if (contextIds[c] is not { } before) continue;
            // A SentencePiece piece that starts a word decodes without its dummy-prefix space when alone: try it with one.
            foreach (string candidate in c == 0 ? new[] { text, " " + text } : [Contexts[c] + text])
            {
                if (TryEncode(tokenizer, candidate) is not { } ids) continue;
                if (ids.Length == before.Length + 1 && ids[^1] == id && ids.AsSpan(0, before.Length).SequenceEqual(before)) return true;
            }
        }
        return false;
    }
}
