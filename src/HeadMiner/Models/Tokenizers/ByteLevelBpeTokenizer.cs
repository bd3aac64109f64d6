using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;

namespace HeadMiner.Models.Tokenizers;

/// <summary>
/// Byte-level BPE (GPT-2, GPT-J/NeoX, Pythia, Llama 3, Qwen2): text is split by a pre-tokenizer regex, each piece's
/// UTF-8 bytes start as one symbol per byte, and adjacent symbols merge by merge rank. Every string, including emoji
/// and CJK, is encodable and round-trips. Load it with <see cref="FromVocabAndMerges"/> (GPT-2's vocab.json +
/// merges.txt) or a Hugging Face tokenizer.json through <see cref="TokenizerLoader"/>.
/// </summary>
public sealed class ByteLevelBpeTokenizer : ITokenizer
{
    private const int MaxCachedWordLength = 256;
    private const int MaxCacheEntries = 100_000;

    private readonly Dictionary<string, int> _vocab;
    private readonly byte[][] _tokenBytes;
    private readonly string[] _pieces;
    private readonly bool[] _isSpecial;
    private readonly int[] _byteIds;
    private readonly Dictionary<long, (int Rank, int Merged)> _merges;
    private readonly SpecialTokenMatcher _specials;
    private readonly PreTokenizerPattern? _pattern;
    private readonly bool _addPrefixSpace;
    private readonly bool _ignoreMerges;
    private readonly Func<string, string>? _normalize;
    private readonly ConcurrentDictionary<string, int[]> _cache = new(StringComparer.Ordinal);
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
    public string BosRule { get; init; } = "GPT-2 vocab.json + merges.txt: Hugging Face's GPT-2 tokenizer adds none";

    /// <param name="vocab">Pieces in GPT-2's byte alphabet ("Ġthe") to ids.</param>
    /// <param name="merges">Merge rules in rank order, as pieces.</param>
    /// <param name="specialTokens">Added tokens matched literally in the text before pre-tokenization.</param>
    /// <param name="pattern">Pre-tokenizer split regex, or null to treat each text segment as one word.</param>
    /// <param name="addPrefixSpace">Prepend a space to a segment that does not start with one (Hugging Face ByteLevel).</param>
    /// <param name="ignoreMerges">A word that is itself in the vocabulary is one token (Llama 3's ignore_merges).</param>
    /// <param name="normalize">Text normalizer applied to each non-special segment (Qwen2: NFC), or null.</param>
    /// <param name="source">File(s) this came from, for error messages.</param>
    internal ByteLevelBpeTokenizer(IReadOnlyDictionary<string, int> vocab, IReadOnlyList<(string Left, string Right)> merges,
        IReadOnlyDictionary<string, int> specialTokens, PreTokenizerPattern? pattern, bool addPrefixSpace, bool ignoreMerges,
        Func<string, string>? normalize, int? bosId, int? eosId, bool addsBosByDefault, string source)
    {
        _source = source;
        _vocab = new Dictionary<string, int>(vocab, StringComparer.Ordinal);
        foreach (var (content, id) in specialTokens) _vocab.TryAdd(content, id);
        int size = VocabularyIds.Size(_vocab.Concat(specialTokens), source);
        _pieces = new string[size];
        _tokenBytes = new byte[size][];
        _isSpecial = new bool[size];
        foreach (var (piece, id) in _vocab)
        {
            _pieces[id] = piece;
            // Pieces outside the byte alphabet (added tokens stored in the vocabulary) are their own UTF-8 text.
            _tokenBytes[id] = GptByteAlphabet.ToBytes(piece) ?? Encoding.UTF8.GetBytes(piece);
        }
        foreach (var (content, id) in specialTokens)
        {
            _pieces[id] = content;
            _tokenBytes[id] = Encoding.UTF8.GetBytes(content);
            _isSpecial[id] = true;
        }
        for (int id = 0; id < size; id++)
        {
            // Unassigned ids (cl100k_base has a gap below its special tokens) decode to nothing.
            _pieces[id] ??= "";
            _tokenBytes[id] ??= [];
        }

        _byteIds = new int[256];
        for (int b = 0; b < 256; b++)
        {
            _byteIds[b] = vocab.TryGetValue(GptByteAlphabet.ToChar((byte)b).ToString(), out int id) ? id : -1;
        }

        _merges = new Dictionary<long, (int, int)>(merges.Count, TokenPair.Comparer);
        for (int rank = 0; rank < merges.Count; rank++)
        {
            var (left, right) = merges[rank];
            if (!vocab.TryGetValue(left, out int l) || !vocab.TryGetValue(right, out int r) || !vocab.TryGetValue(left + right, out int m))
            {
                throw new HeadMinerException($"{source}: merge {rank + 1} \"{left} {right}\" uses a token that is not in the vocabulary");
            }
            _merges.TryAdd(TokenPair.Key(l, r), (rank, m)); // a repeated rule keeps its first (best) rank
        }

        _specials = new SpecialTokenMatcher(specialTokens);
        _pattern = pattern;
        _addPrefixSpace = addPrefixSpace;
        _ignoreMerges = ignoreMerges;
        _normalize = normalize;
        BosId = bosId;
        EosId = eosId;
        AddsBosByDefault = addsBosByDefault && bosId is not null;
    }

    /// <summary>
    /// GPT-2 from OpenAI-format files: vocab.json (piece → id) and merges.txt ("#version" line, then "left right" per
    /// rank). <c>&lt;|endoftext|&gt;</c>, if present, is the special token, BOS and EOS; BOS is not added by default.
    /// A <paramref name="configPath"/> (tokenizer_config.json) that names another bos_token or sets add_bos_token wins.
    /// </summary>
    public static ByteLevelBpeTokenizer FromVocabAndMerges(string vocabPath, string mergesPath, string? configPath = null)
    {
        var config = TokenizerConfig.Read(configPath);
        Dictionary<string, int> vocab;
        try
        {
            vocab = JsonSerializer.Deserialize<Dictionary<string, int>>(File.ReadAllBytes(vocabPath))
                ?? throw new HeadMinerException($"{vocabPath}: expected a JSON object of token → id");
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException)
        {
            throw new HeadMinerException($"{vocabPath}: cannot read the vocabulary: {e.Message}", e);
        }
        var merges = new List<(string, string)>();
        string[] lines;
        try
        {
            lines = File.ReadAllLines(mergesPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new HeadMinerException($"{mergesPath}: cannot read the merges: {e.Message}", e);
        }
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i];
            if (line.Length == 0 || (i == 0 && line.StartsWith("#version", StringComparison.Ordinal))) continue;
            int space = line.IndexOf(' ', StringComparison.Ordinal);
            if (space <= 0 || space == line.Length - 1 || line.IndexOf(' ', space + 1) >= 0)
            {
                throw new HeadMinerException($"{mergesPath}:{i + 1}: expected \"left right\", found \"{line}\"");
            }
            merges.Add((line[..space], line[(space + 1)..]));
        }
        const string endOfText = "<|endoftext|>";
        var specials = new Dictionary<string, int>();
        int? eot = null;
        if (vocab.TryGetValue(endOfText, out int id))
        {
            specials[endOfText] = id;
            eot = id;
        }
        int? bos = config?.Bos is string name && vocab.TryGetValue(name, out int bosId) ? bosId : eot;
        return new ByteLevelBpeTokenizer(vocab, merges, specials, new PreTokenizerPattern(PreTokenizerPattern.Gpt2), addPrefixSpace: false,
            ignoreMerges: false, normalize: null, bos, eot, addsBosByDefault: config?.AddBos ?? false, $"{vocabPath} + {mergesPath}")
        {
            BosRule = config?.AddBosRule ?? "GPT-2 vocab.json + merges.txt: Hugging Face's GPT-2 tokenizer adds none",
        };
    }

    public int[] Encode(string text, bool? addBos = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>(text.Length / 3 + 2);
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
            string segment = text.Substring(start, length);
            if (_normalize is not null) segment = _normalize(segment);
            if (_addPrefixSpace && !segment.StartsWith(' ')) segment = " " + segment;
            if (_pattern is null)
            {
                EncodeWord(segment, ids);
                continue;
            }
            foreach (var (s, n) in _pattern.Split(segment)) EncodeWord(segment.Substring(s, n), ids);
        }
        return [.. ids];
    }

    private void EncodeWord(string word, List<int> ids)
    {
        if (word.Length == 0) return;
        if (_cache.TryGetValue(word, out int[]? cached))
        {
            ids.AddRange(cached);
            return;
        }
        byte[] bytes = TokenText.EncodeUtf8(word);
        if (_ignoreMerges)
        {
            var spelled = new StringBuilder(bytes.Length);
            foreach (byte b in bytes) spelled.Append(GptByteAlphabet.ToChar(b));
            if (_vocab.TryGetValue(spelled.ToString(), out int whole) && !_isSpecial[whole])
            {
                Remember(word, [whole]);
                ids.Add(whole);
                return;
            }
        }
        var symbols = new int[bytes.Length];
        for (int i = 0; i < bytes.Length; i++)
        {
            symbols[i] = _byteIds[bytes[i]];
            if (symbols[i] < 0) throw new HeadMinerException($"{_source}: the vocabulary has no token for byte 0x{bytes[i]:X2}");
        }
        int count = PairMerger.Merge(symbols, TryMerge);
        int[] result = symbols[..count];
        Remember(word, result);
        ids.AddRange(result);
    }

    private void Remember(string word, int[] result)
    {
        if (word.Length > MaxCachedWordLength) return;
        if (_cache.Count >= MaxCacheEntries) _cache.Clear(); // crude bound: a long corpus must not grow it forever
        _cache.TryAdd(word, result);
    }

    private bool TryMerge(int left, int right, out int rank, out int merged)
    {
        if (_merges.TryGetValue(TokenPair.Key(left, right), out var rule))
        {
            rank = rule.Rank;
            merged = rule.Merged;
            return true;
        }
        rank = 0;
        merged = -1;
        return false;
    }


    public string Decode(ReadOnlySpan<int> ids)
    {
        var bytes = new List<byte>(ids.Length * 4);
        foreach (int id in ids) bytes.AddRange(_tokenBytes[CheckId(id)]);
        return TokenText.DecodeUtf8(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes));
    }

    public string TokenToString(int id) => _isSpecial[CheckId(id)] ? _pieces[id] : TokenText.Readable(_tokenBytes[id]);

    public int? TokenToId(string piece) => _vocab.TryGetValue(piece, out int id) ? id : null;

    public IReadOnlyList<string> Tokens(string text) => Array.ConvertAll(Encode(text, addBos: false), TokenToString);

    private int CheckId(int id)
    {
        if ((uint)id >= (uint)_pieces.Length) throw new HeadMinerException($"{_source}: token id {id} is outside the vocabulary (0..{_pieces.Length - 1})");
        return id;
    }
}
