using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Globalization;
using System.Text;

namespace HeadMiner.Models.Tokenizers;

/// <summary>
/// SentencePiece-style BPE with byte fallback (Llama 1/2, TinyLlama, Mistral, llama2.c): spaces become a space symbol
/// ("▁", or a plain space in llama2.c files), a dummy-prefix space goes in front, the text starts as one symbol per
/// character (a character without a token becomes its UTF-8 bytes' &lt;0xNN&gt; tokens), and adjacent symbols merge:
/// by merge rank (Hugging Face tokenizer.json) or by highest score of the merged piece (llama2.c tokenizer.bin, as
/// run.c does). Load with <see cref="FromLlama2cFile"/> or through <see cref="TokenizerLoader"/>.
/// </summary>
public sealed class SentencePieceBpeTokenizer : ITokenizer
{
    private readonly string[] _pieces;
    private readonly byte[][] _bytes;
    private readonly bool[] _isSpecial;
    private readonly bool[] _isByte;
    private readonly Dictionary<string, int> _pieceToId;
    private readonly int[] _byteFallbackIds = new int[256];
    private readonly float[]? _scores;
    private readonly int[]? _scoreRanks; // dense rank of each score, highest score first: equal scores, equal ranks
    private readonly Dictionary<long, (int Rank, int Merged)>? _rankMerges;
    private readonly ConcurrentDictionary<long, int> _scoreMerges = new(TokenPair.Comparer);
    private readonly char _spaceSymbol;
    private readonly DummyPrefix _dummyPrefix;
    private readonly bool _splitOnSpace;
    private readonly int? _unkId;
    private readonly bool _fuseUnk;
    private readonly SpecialTokenMatcher _specials;
    private readonly string _source;

    public int VocabSize => _pieces.Length;
    public int? BosId { get; }
    public int? EosId { get; }
    public bool AddsBosByDefault { get; }

    /// <summary>Added tokens that take the whitespace before (lstrip) / after (rstrip) them (tokenizer.json flags).</summary>
    internal (IReadOnlyCollection<string> Lstrip, IReadOnlyCollection<string> Rstrip) AddedTokenStrip
    {
        init => _specials = _specials.WithStrip(value.Lstrip, value.Rstrip);
    }

    /// <inheritdoc/>
    public string BosRule { get; init; } = "llama2.c tokenizer.bin: llama2.c's run.c prepends it";

    /// <summary>
    /// How Decode drops the dummy-prefix space. True (llama2.c's run.c): from the first piece and from the piece after
    /// each BOS. False (Hugging Face decoders): up to <see cref="DecodeLeadingSpaces"/> spaces from the start of the
    /// whole text only (a Strip decoder, or a Metaspace decoder that prepends), so "a&lt;s&gt;b" decodes to "a b".
    /// </summary>
    internal bool DecodeStripsAfterBos { get; init; } = true;

    /// <summary>Leading spaces the Hugging Face decoder strips (see <see cref="DecodeStripsAfterBos"/>).</summary>
    internal int DecodeLeadingSpaces { get; init; }

    /// <param name="pieces">Every piece by id, as the vocabulary spells it ("▁the", "&lt;0x0A&gt;", "&lt;s&gt;").</param>
    /// <param name="scores">Per-id scores for score-based merging (llama2.c), or null when <paramref name="merges"/> rank them.</param>
    /// <param name="merges">Merge rules in rank order, or null when <paramref name="scores"/> decide.</param>
    /// <param name="addedTokens">Tokens matched literally in the text before anything else (Hugging Face added_tokens).</param>
    /// <param name="specialIds">Ids Decode drops (control tokens); BOS, EOS and unk are always among them.</param>
    /// <param name="spaceSymbol">The character that stands for a space inside pieces.</param>
    /// <param name="splitOnSpace">Cut the text before each space symbol first (Hugging Face Metaspace split=true).</param>
    /// <param name="byteFallback">A character without a piece becomes its &lt;0xNN&gt; byte tokens (else unk).</param>
    internal SentencePieceBpeTokenizer(IReadOnlyList<string> pieces, float[]? scores, IReadOnlyList<(string Left, string Right)>? merges,
        IReadOnlyDictionary<string, int> addedTokens, IReadOnlySet<int> specialIds, char spaceSymbol, DummyPrefix dummyPrefix, bool splitOnSpace,
        bool byteFallback, int? unkId, bool fuseUnk, int? bosId, int? eosId, bool addsBosByDefault, string source)
    {
        if ((scores is null) == (merges is null)) throw new ArgumentException("exactly one of scores and merges is needed");
        _source = source;
        int size = pieces.Count;
        _pieces = [.. pieces];
        _bytes = new byte[size][];
        _isSpecial = new bool[size];
        _isByte = new bool[size];
        _pieceToId = new Dictionary<string, int>(size, StringComparer.Ordinal);
        Array.Fill(_byteFallbackIds, -1);
        for (int id = 0; id < size; id++)
        {
            string piece = _pieces[id] ??= ""; // an unassigned id decodes to nothing
            _pieceToId.TryAdd(piece, id); // duplicates: the first id wins
            if (byteFallback && TryParseByteToken(piece, out byte value))
            {
                _isByte[id] = true;
                _bytes[id] = [value];
                if (_byteFallbackIds[value] < 0) _byteFallbackIds[value] = id;
            }
            else
            {
                _bytes[id] = Encoding.UTF8.GetBytes(piece.Replace(spaceSymbol, ' '));
            }
        }
        foreach (var (content, id) in addedTokens)
        {
            if ((uint)id >= (uint)size) throw new HeadMinerException($"{source}: added token {content} has id {id}, outside 0..{size - 1}");
            if (!specialIds.Contains(id)) _bytes[id] = Encoding.UTF8.GetBytes(content); // added text decodes as itself
        }
        foreach (int id in specialIds)
        {
            if ((uint)id >= (uint)size) throw new HeadMinerException($"{source}: special token id {id} is outside 0..{size - 1}");
            _isSpecial[id] = true;
        }
        if (unkId is int u) _isSpecial[u] = true;
        if (bosId is int b) _isSpecial[b] = true;
        if (eosId is int e) _isSpecial[e] = true;

        _scores = scores;
        if (scores is not null)
        {
            float[] distinct = [.. scores.Distinct().OrderDescending()];
            _scoreRanks = [.. scores.Select(x => Array.BinarySearch(distinct, x, Comparer<float>.Create((a, b) => b.CompareTo(a))))];
        }
        if (merges is not null)
        {
            _rankMerges = new Dictionary<long, (int, int)>(merges.Count, TokenPair.Comparer);
            for (int rank = 0; rank < merges.Count; rank++)
            {
                var (left, right) = merges[rank];
                if (!_pieceToId.TryGetValue(left, out int l) || !_pieceToId.TryGetValue(right, out int r)
                    || !_pieceToId.TryGetValue(left + right, out int m))
                {
                    throw new HeadMinerException($"{source}: merge {rank + 1} \"{left} {right}\" uses a token that is not in the vocabulary");
                }
                _rankMerges.TryAdd(TokenPair.Key(l, r), (rank, m));
            }
        }
        _spaceSymbol = spaceSymbol;
        _dummyPrefix = dummyPrefix;
        _splitOnSpace = splitOnSpace;
        _unkId = unkId;
        _fuseUnk = fuseUnk;
        _specials = new SpecialTokenMatcher(addedTokens);
        BosId = bosId;
        EosId = eosId;
        AddsBosByDefault = addsBosByDefault && bosId is not null;
    }

    /// <summary>
    /// A llama2.c tokenizer file (tokenizer.bin, tok512.bin): int32 max_token_length, then per token float32 score,
    /// int32 byte length and the bytes. Ids 0/1/2 are unk/BOS/EOS; BOS is added by default; merging is by score.
    /// </summary>
    public static SentencePieceBpeTokenizer FromLlama2cFile(string path)
    {
        byte[] data;
        try
        {
            data = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new HeadMinerException($"{path}: cannot read the llama2.c tokenizer: {e.Message}", e);
        }
        if (data.Length < 4) throw new HeadMinerException($"{path}: too short for a llama2.c tokenizer ({data.Length} bytes)");
        int maxTokenLength = BinaryPrimitives.ReadInt32LittleEndian(data);
        var pieces = new List<string>();
        var scores = new List<float>();
        int offset = 4;
        while (offset < data.Length)
        {
            if (offset + 8 > data.Length) throw new HeadMinerException($"{path}: token {pieces.Count} is cut off at byte {offset}");
            float score = BinaryPrimitives.ReadSingleLittleEndian(data.AsSpan(offset));
            int length = BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(offset + 4));
            offset += 8;
            if (length < 0 || length > maxTokenLength || offset + length > data.Length)
            {
                throw new HeadMinerException($"{path}: token {pieces.Count} at byte {offset - 8} has length {length} (max_token_length {maxTokenLength}, file {data.Length} bytes)");
            }
            // SentencePiece pieces are UTF-8 text (partial characters live in the <0xNN> byte tokens instead).
            pieces.Add(Encoding.UTF8.GetString(data, offset, length));
            if (Encoding.UTF8.GetByteCount(pieces[^1]) != length) throw new HeadMinerException($"{path}: token {pieces.Count - 1} is not valid UTF-8");
            scores.Add(score);
            offset += length;
        }
        if (pieces.Count < 3) throw new HeadMinerException($"{path}: only {pieces.Count} tokens; a llama2.c tokenizer starts with <unk>, <s>, </s>");
        // run.c matches no special text in prompts; ids 0..2 are its control tokens.
        return new SentencePieceBpeTokenizer(pieces, [.. scores], null, new Dictionary<string, int>(), new HashSet<int> { 0, 1, 2 }, ' ', DummyPrefix.Always, splitOnSpace: false,
            byteFallback: true, unkId: 0, fuseUnk: false, bosId: 1, eosId: 2, addsBosByDefault: true, path);
    }

    public int[] Encode(string text, bool? addBos = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>(text.Length / 2 + 2);
        if (addBos ?? AddsBosByDefault)
        {
            ids.Add(BosId ?? throw new HeadMinerException($"{_source}: this tokenizer has no BOS token to add"));
        }
        foreach (var (start, length, specialId) in _specials.Split(text))
        {
            if (specialId >= 0)
            {
                ids.Add(specialId);
                continue;
            }
            string normalized = Normalize(text.Substring(start, length), isFirstSegment: start == 0);
            if (!_splitOnSpace)
            {
                EncodeWord(normalized, ids);
                continue;
            }
            // Metaspace split: each word starts at a space symbol (MergedWithNext).
            int wordStart = 0;
            for (int i = 1; i <= normalized.Length; i++)
            {
                if (i == normalized.Length || normalized[i] == _spaceSymbol)
                {
                    EncodeWord(normalized[wordStart..i], ids);
                    wordStart = i;
                }
            }
        }
        return [.. ids];
    }

    private string Normalize(string segment, bool isFirstSegment)
    {
        if (segment.Length == 0) return segment;
        bool prepend = _dummyPrefix switch
        {
            DummyPrefix.Always => true,
            // Metaspace looks at the text after replacing spaces, so a literal space symbol counts as a space.
            DummyPrefix.UnlessStartsWithSpace => segment[0] != ' ' && segment[0] != _spaceSymbol,
            DummyPrefix.FirstSegmentUnlessStartsWithSpace => isFirstSegment && segment[0] != ' ' && segment[0] != _spaceSymbol,
            _ => false,
        };
        string spaced = prepend ? " " + segment : segment;
        return _spaceSymbol == ' ' ? spaced : spaced.Replace(' ', _spaceSymbol);
    }

    private void EncodeWord(string word, List<int> ids)
    {
        if (word.Length == 0) return;
        var symbols = new List<int>(word.Length);
        Span<byte> utf8 = stackalloc byte[4];
        for (int i = 0; i < word.Length;)
        {
            int units = char.IsHighSurrogate(word[i]) && i + 1 < word.Length && char.IsLowSurrogate(word[i + 1]) ? 2 : 1;
            // One character; a lone surrogate is looked up and byte-encoded as U+FFFD, as TextEncoder would.
            string character = units == 1 && char.IsSurrogate(word[i]) ? "\uFFFD" : word.Substring(i, units);
            int byteCount = Encoding.UTF8.GetBytes(character, utf8);
            i += units;
            if (_pieceToId.TryGetValue(character, out int id) && !_isSpecial[id])
            {
                symbols.Add(id);
                continue;
            }
            bool allBytes = true;
            for (int k = 0; k < byteCount; k++) allBytes &= _byteFallbackIds[utf8[k]] >= 0;
            if (allBytes)
            {
                for (int k = 0; k < byteCount; k++) symbols.Add(_byteFallbackIds[utf8[k]]);
            }
            else if (_unkId is int unk)
            {
                if (!(_fuseUnk && symbols.Count > 0 && symbols[^1] == unk)) symbols.Add(unk);
            }
            else
            {
                throw new HeadMinerException($"{_source}: U+{Rune.GetRuneAt(character, 0).Value:X4} has no token, no byte tokens and there is no unk token");
            }
        }
        var span = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(symbols);
        int count = PairMerger.Merge(span, _rankMerges is not null ? TryMergeByRank : TryMergeByScore);
        ids.AddRange(span[..count]);
    }

    private bool TryMergeByRank(int left, int right, out int rank, out int merged)
    {
        if (_rankMerges!.TryGetValue(TokenPair.Key(left, right), out var rule))
        {
            rank = rule.Rank;
            merged = rule.Merged;
            return true;
        }
        rank = 0;
        merged = -1;
        return false;
    }

    // run.c: the pair whose concatenated piece exists with the highest score merges first (strict >, so leftmost on ties).
    private bool TryMergeByScore(int left, int right, out int rank, out int merged)
    {
        long key = TokenPair.Key(left, right);
        if (!_scoreMerges.TryGetValue(key, out merged))
        {
            merged = _pieceToId.TryGetValue(_pieces[left] + _pieces[right], out int id) ? id : -1;
            _scoreMerges.TryAdd(key, merged);
        }
        rank = merged >= 0 ? _scoreRanks![merged] : 0;
        return merged >= 0;
    }

    public string Decode(ReadOnlySpan<int> ids)
    {
        var bytes = new List<byte>(ids.Length * 4);
        bool atStart = true;
        foreach (int id in ids)
        {
            CheckId(id);
            if (_isSpecial[id])
            {
                if (id == BosId && DecodeStripsAfterBos) atStart = true;
                continue;
            }
            ReadOnlySpan<byte> piece = _bytes[id];
            if (DecodeStripsAfterBos && atStart && _dummyPrefix != DummyPrefix.None && !_isByte[id] && piece.Length > 0 && piece[0] == (byte)' ') piece = piece[1..];
            atStart = false;
            bytes.AddRange(piece);
        }
        int strip = 0;
        if (!DecodeStripsAfterBos)
        {
            while (strip < DecodeLeadingSpaces && strip < bytes.Count && bytes[strip] == (byte)' ') strip++;
        }
        return TokenText.DecodeUtf8(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes)[strip..]);
    }

    public string TokenToString(int id) => _isSpecial[CheckId(id)] ? _pieces[id].Trim('\n') : TokenText.Readable(_bytes[id]);

    public int? TokenToId(string piece) => _pieceToId.TryGetValue(piece, out int id) ? id : null;

    public IReadOnlyList<string> Tokens(string text) => Array.ConvertAll(Encode(text, addBos: false), TokenToString);

    /// <summary>The score of a piece (llama2.c files), or null for rank-merged vocabularies.</summary>
    public float? Score(int id) => _scores is null ? null : _scores[CheckId(id)];

    private int CheckId(int id)
    {
        if ((uint)id >= (uint)_pieces.Length) throw new HeadMinerException($"{_source}: token id {id} is outside the vocabulary (0..{_pieces.Length - 1})");
        return id;
    }


    private static bool TryParseByteToken(string piece, out byte value)
    {
        value = 0;
        return piece.Length == 6 && piece.StartsWith("<0x", StringComparison.Ordinal) && piece[5] == '>'
            && byte.TryParse(piece.AsSpan(3, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);
    }
}
