using System.Text;

namespace HeadMiner.Models.Tokenizers;

/// <summary>
/// A whole-word tokenizer (Hugging Face's WordLevel model with a WhitespaceSplit pre-tokenizer): special tokens are
/// matched literally first, the rest is split on whitespace and each word must be in the vocabulary. Used by
/// vocabularies whose tokens are words by construction, such as the embedded model's toy language. An optional
/// <see cref="Isolate"/> pattern (Hugging Face's Split pre-tokenizer, behavior Isolated, after WhitespaceSplit) cuts
/// each word further into its matches and the gaps between them: the toy English isolates punctuation ("store." →
/// "store" "."), and two-digit groups ("1732" → "17" "32", years in two tokens as GPT-2 spells them).
/// <para>
/// With a <see cref="ContinuingSubwordPrefix"/> it is Hugging Face's WordPiece model: a word the vocabulary lacks is
/// cut greedily into the longest pieces it has, from the left, every piece after the first spelled with the prefix
/// ("harbour" → "harb" "##our"); a word in the vocabulary stays one token, because the longest match is the whole
/// word. The toy English keeps most words whole and spells some only in pieces, so word-continuation tokens exist and
/// are marked as such.
/// </para>
/// </summary>
/// <remarks>
/// Round trip holds for text in the canonical form <see cref="Decode"/> produces (tokens joined by one space); other
/// whitespace is not kept, as in Hugging Face. A word that is not in the vocabulary is an error naming the word and
/// its position (Hugging Face refuses it too when the unknown token is not in the vocabulary), never a silent &lt;unk&gt;.
/// </remarks>
public sealed class WordLevelTokenizer : ITokenizer
{
    private readonly string[] _tokens;
    private readonly Dictionary<string, int> _ids;
    private readonly SpecialTokenMatcher _specials;
    private readonly int? _unknownId;

    public WordLevelTokenizer(IReadOnlyDictionary<string, int> vocabulary, IReadOnlyDictionary<string, int> specialTokens,
        int? bosId, int? eosId, bool addsBosByDefault, string? unknownToken = null, string source = "word-level vocabulary",
        PreTokenizerPattern? isolate = null)
    {
        Isolate = isolate;
        int size = VocabularyIds.Size(vocabulary.Concat(specialTokens), source);
        if (size == 0) throw new HeadMinerException($"{source}: the vocabulary is empty");
        _tokens = new string[size];
        _ids = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (text, id) in vocabulary.Concat(specialTokens))
        {
            if (text.Length == 0 || text.Any(char.IsWhiteSpace)) throw new HeadMinerException($"{source}: token {id} \"{JsonAt.Clip(text)}\" is empty or contains whitespace");
            if (_tokens[id] is { } other && other != text) throw new HeadMinerException($"{source}: id {id} is both \"{JsonAt.Clip(other)}\" and \"{JsonAt.Clip(text)}\"");
            _tokens[id] = text;
            _ids[text] = id;
        }
        for (int i = 0; i < size; i++)
        {
            if (_tokens[i] is null) throw new HeadMinerException($"{source}: ids are not contiguous: {i} is missing below {size}");
        }
        foreach (int? id in new[] { bosId, eosId })
        {
            if (id is int i && (i < 0 || i >= size)) throw new HeadMinerException($"{source}: special id {i} is outside [0, {size})");
        }
        _specials = new SpecialTokenMatcher(specialTokens);
        _unknownId = unknownToken is not null && _ids.TryGetValue(unknownToken, out int u) ? u : null;
        BosId = bosId;
        EosId = eosId;
        AddsBosByDefault = addsBosByDefault && bosId is not null;
    }

    /// <summary>The Split pattern applied to each whitespace-separated word (null: words are whole).</summary>
    public PreTokenizerPattern? Isolate { get; }

    /// <summary>
    /// WordPiece's mark of a piece that continues a word ("##"), or null for a word-level model (every token a whole
    /// word). Set, a word the vocabulary lacks is split into pieces instead of refused.
    /// </summary>
    public string? ContinuingSubwordPrefix { get; init; }

    /// <summary>WordPiece's limit: a longer word is the unknown token (or refused) without trying pieces, as in Hugging Face.</summary>
    public int MaxInputCharsPerWord { get; init; } = 100;

    /// <summary>
    /// Whether <see cref="Decode"/> glues a continuation piece to the token before it, without its prefix (Hugging
    /// Face's WordPiece decoder, cleanup off); false joins every token with a space, as tokenizer.json files without a
    /// decoder decode.
    /// </summary>
    public bool DecodesContinuations { get; init; }

    /// <summary>Whether token <paramref name="id"/> continues a word (WordPiece's prefix): false on a word-level model.</summary>
    public bool ContinuesWord(int id) => ContinuingSubwordPrefix is { } prefix && TokenToString(id).StartsWith(prefix, StringComparison.Ordinal);

    public int VocabSize => _tokens.Length;
    public int? BosId { get; }
    public int? EosId { get; }
    public bool AddsBosByDefault { get; }

    /// <inheritdoc/>
    public string BosRule { get; init; } = "the tokenizer's default";

    public int[] Encode(string text, bool? addBos = null)
    {
        var ids = new List<int>();
        if (addBos ?? AddsBosByDefault)
        {
            ids.Add(BosId ?? throw new HeadMinerException("this tokenizer has no BOS token"));
        }
        foreach (var (start, length, special) in _specials.Split(text))
        {
            if (special >= 0)
            {
                ids.Add(special);
                continue;
            }
            int i = start, end = start + length;
            while (i < end)
            {
                while (i < end && char.IsWhiteSpace(text[i])) i++;
                int wordStart = i;
                while (i < end && !char.IsWhiteSpace(text[i])) i++;
                if (i == wordStart) break;
                string word = text[wordStart..i];
                if (Isolate is null)
                {
                    AddWord(ids, word, wordStart);
                    continue;
                }
                foreach (var (pieceStart, pieceLength) in Isolate.Split(word))
                    AddWord(ids, word.Substring(pieceStart, pieceLength), wordStart + pieceStart);
            }
        }
        return [.. ids];
    }

    private void AddWord(List<int> ids, string word, int at)
    {
        // WordPiece checks the length first, whole words included, and counts characters, not UTF-16 units (Hugging Face).
        bool tooLong = ContinuingSubwordPrefix is not null && word.EnumerateRunes().Count() > MaxInputCharsPerWord;
        if (!tooLong && _ids.TryGetValue(word, out int id))
        {
            ids.Add(id);
            return;
        }
        if (ContinuingSubwordPrefix is { } prefix && !tooLong && TryPieces(word, prefix, ids)) return;
        string why = ContinuingSubwordPrefix is null ? "is not a word of this vocabulary"
            : tooLong ? $"is longer than {MaxInputCharsPerWord} characters (max_input_chars_per_word)"
            : "is not a word of this vocabulary, and its pieces do not spell it";
        ids.Add(_unknownId ?? throw new HeadMinerException($"\"{Shorten(word)}\" at character {at} {why} ({VocabSize} tokens, e.g. \"{_tokens[Math.Min(4, VocabSize - 1)]}\")"));
    }

    /// <summary>
    /// WordPiece: from the left, the longest piece in the vocabulary (with the prefix after the first); adds the
    /// pieces and returns true, or adds nothing and returns false when some rest has no piece (the whole word is then
    /// unknown, as in Hugging Face: never half a word).
    /// </summary>
    private bool TryPieces(string word, string prefix, List<int> ids)
    {
        var pieces = new List<int>();
        int start = 0;
        while (start < word.Length)
        {
            int found = -1, end = word.Length;
            for (; end > start; end--)
            {
                // Never end between the halves of a surrogate pair (Hugging Face cuts at character boundaries).
                if (end < word.Length && char.IsLowSurrogate(word[end])) continue;
                string piece = start == 0 ? word[..end] : prefix + word[start..end];
                if (_ids.TryGetValue(piece, out found)) break;
            }
            if (end == start) return false;
            pieces.Add(found);
            start = end;
        }
        ids.AddRange(pieces);
        return true;
    }

    /// <summary>
    /// The tokens joined by single spaces (Hugging Face's default decoding for a word-level model); with
    /// <see cref="DecodesContinuations"/>, a continuation piece after the first token is glued on without its prefix
    /// (WordPiece's decoder: "harb ##our" → "harbour"; a first token keeps its prefix, as there).
    /// </summary>
    public string Decode(ReadOnlySpan<int> ids)
    {
        var text = new StringBuilder();
        for (int i = 0; i < ids.Length; i++)
        {
            string token = TokenToString(ids[i]);
            if (i > 0 && DecodesContinuations && ContinuesWord(ids[i])) text.Append(token, ContinuingSubwordPrefix!.Length, token.Length - ContinuingSubwordPrefix.Length);
            else
            {
                if (i > 0) text.Append(' ');
                text.Append(token);
            }
        }
        return text.ToString();
    }

    public string TokenToString(int id) => id >= 0 && id < _tokens.Length
        ? _tokens[id]
        : throw new HeadMinerException($"token id {id} is outside the vocabulary [0, {VocabSize})");

    public int? TokenToId(string piece) => _ids.TryGetValue(piece, out int id) ? id : null;

    public IReadOnlyList<string> Tokens(string text) => Encode(text, false).Select(TokenToString).ToArray();

    private static string Shorten(string word) => word.Length <= 40 ? word : word[..40] + "…";
}
