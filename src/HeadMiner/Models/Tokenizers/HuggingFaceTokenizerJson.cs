using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace HeadMiner.Models.Tokenizers;

/// <summary>
/// Reads a Hugging Face tokenizer.json whose model is BPE: byte-level (GPT-2, Pythia, Llama 3, Qwen2: a ByteLevel
/// pre-tokenizer, optionally after a Split regex) becomes a <see cref="ByteLevelBpeTokenizer"/>; SentencePiece-style
/// (Llama 2, TinyLlama, Mistral: byte_fallback, a Prepend/Replace normalizer or a Metaspace pre-tokenizer) becomes a
/// <see cref="SentencePieceBpeTokenizer"/>. Anything else is refused with a message naming the unsupported part,
/// never approximated. BOS/EOS come from tokenizer_config.json when given, else from the post-processor template and
/// the usual token names.
/// </summary>
public static class HuggingFaceTokenizerJson
{
    private static readonly string[] BosNames = ["<s>", "<|begin_of_text|>", "<bos>", "<|startoftext|>"];
    private static readonly string[] EosNames = ["</s>", "<|end_of_text|>", "<|endoftext|>", "<eos>", "<|im_end|>"];

    /// <param name="path">The tokenizer.json file.</param>
    /// <param name="configPath">An optional tokenizer_config.json (bos_token, eos_token, add_bos_token), or null.</param>
    public static ITokenizer Load(string path, string? configPath = null)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException)
        {
            throw new HeadMinerException($"{path}: cannot read tokenizer.json: {e.Message}", e);
        }
        using (doc)
        {
            try
            {
                return Build(doc.RootElement, path, ReadConfig(configPath));
            }
            catch (Exception e) when (e is InvalidOperationException or KeyNotFoundException or FormatException)
            {
                throw new HeadMinerException($"{path}: malformed tokenizer.json: {e.Message}", e);
            }
        }
    }

    private sealed record Config(string? Bos, string? Eos, bool? AddBos);

    private static Config? ReadConfig(string? configPath)
    {
        if (configPath is null || !File.Exists(configPath)) return null;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(configPath));
            var root = doc.RootElement;
            return new Config(TokenName(root, "bos_token"), TokenName(root, "eos_token"),
                root.TryGetProperty("add_bos_token", out var add) && add.ValueKind is JsonValueKind.True or JsonValueKind.False ? add.GetBoolean() : null);
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            throw new HeadMinerException($"{configPath}: cannot read tokenizer_config.json: {e.Message}", e);
        }
    }

    // "bos_token": "<s>" or {"content": "<s>", ...} or null.
    private static string? TokenName(JsonElement root, string name)
    {
        if (!root.TryGetProperty(name, out var value)) return null;
        return value.ValueKind switch
        {
            JsonValueKind.String => value.GetString(),
            JsonValueKind.Object when value.TryGetProperty("content", out var c) => c.GetString(),
            _ => null,
        };
    }

    private static ITokenizer Build(JsonElement root, string path, Config? config)
    {
        var model = root.GetProperty("model");
        string type = model.TryGetProperty("type", out var t) ? t.GetString() ?? "" : "BPE";
        if (type == "WordLevel") return BuildWordLevel(root, model, path, config);
        if (type != "BPE") throw new HeadMinerException($"{path}: model.type {type} is not supported (only BPE and WordLevel)");
        foreach (string unsupported in new[] { "continuing_subword_prefix", "end_of_word_suffix", "dropout" })
        {
            if (model.TryGetProperty(unsupported, out var v) && v.ValueKind != JsonValueKind.Null && !(v.ValueKind == JsonValueKind.String && v.GetString() == ""))
            {
                throw new HeadMinerException($"{path}: model.{unsupported} = {v} is not supported");
            }
        }

        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var entry in model.GetProperty("vocab").EnumerateObject()) vocab[entry.Name] = entry.Value.GetInt32();
        var merges = new List<(string, string)>();
        if (model.TryGetProperty("merges", out var mergeList))
        {
            foreach (var m in mergeList.EnumerateArray())
            {
                if (m.ValueKind == JsonValueKind.Array)
                {
                    merges.Add((m[0].GetString()!, m[1].GetString()!));
                    continue;
                }
                string rule = m.GetString()!;
                int space = rule.IndexOf(' ', StringComparison.Ordinal);
                if (space <= 0) throw new HeadMinerException($"{path}: merge {merges.Count + 1} \"{rule}\" is not \"left right\"");
                merges.Add((rule[..space], rule[(space + 1)..]));
            }
        }

        var added = new Dictionary<string, int>(StringComparer.Ordinal);
        var specialIds = new HashSet<int>();
        if (root.TryGetProperty("added_tokens", out var addedTokens) && addedTokens.ValueKind == JsonValueKind.Array)
        {
            foreach (var a in addedTokens.EnumerateArray())
            {
                string content = a.GetProperty("content").GetString()!;
                int id = a.GetProperty("id").GetInt32();
                added[content] = id;
                if (a.TryGetProperty("special", out var special) && special.ValueKind == JsonValueKind.True) specialIds.Add(id);
            }
        }

        int? Id(string? name) => name is null ? null : added.TryGetValue(name, out int i) ? i : vocab.TryGetValue(name, out int j) ? j : null;
        int? templateBos = TemplateBos(root, Id);
        int? bos = Id(config?.Bos) ?? templateBos ?? BosNames.Select(Id).FirstOrDefault(i => i is not null);
        int? eos = Id(config?.Eos) ?? EosNames.Select(Id).FirstOrDefault(i => i is not null);
        bool addsBos = config?.AddBos ?? templateBos is not null;

        var preTokenizers = Flatten(root, "pre_tokenizer", "pretokenizers");
        var normalizers = Flatten(root, "normalizer", "normalizers");
        bool byteLevel = preTokenizers.Any(p => TypeOf(p) == "ByteLevel");

        if (byteLevel) return BuildByteLevel(path, vocab, merges, added, preTokenizers, normalizers, model, bos, eos, addsBos);
        return BuildSentencePiece(path, vocab, merges, added, specialIds, preTokenizers, normalizers, model, bos, eos, addsBos);
    }

    /// <summary>WordLevel with a whitespace pre-tokenizer and no normalizer: any other combination is refused.</summary>
    private static ITokenizer BuildWordLevel(JsonElement root, JsonElement model, string path, Config? config)
    {
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var entry in model.GetProperty("vocab").EnumerateObject()) vocab[entry.Name] = entry.Value.GetInt32();
        if (Flatten(root, "normalizer", "normalizers").Count > 0) throw new HeadMinerException($"{path}: a normalizer on a WordLevel model is not supported");
        foreach (var p in Flatten(root, "pre_tokenizer", "pretokenizers"))
        {
            if (TypeOf(p) != "WhitespaceSplit")
                throw new HeadMinerException($"{path}: pre-tokenizer {TypeOf(p)} on a WordLevel model is not supported (only WhitespaceSplit)");
        }
        var added = new Dictionary<string, int>(StringComparer.Ordinal);
        if (root.TryGetProperty("added_tokens", out var addedTokens) && addedTokens.ValueKind == JsonValueKind.Array)
        {
            foreach (var a in addedTokens.EnumerateArray()) added[a.GetProperty("content").GetString()!] = a.GetProperty("id").GetInt32();
        }
        int? Id(string? name) => name is null ? null : added.TryGetValue(name, out int i) ? i : vocab.TryGetValue(name, out int j) ? j : null;
        int? templateBos = TemplateBos(root, Id);
        int? bos = Id(config?.Bos) ?? templateBos ?? BosNames.Select(Id).FirstOrDefault(i => i is not null);
        int? eos = Id(config?.Eos) ?? EosNames.Select(Id).FirstOrDefault(i => i is not null);
        string? unknown = model.TryGetProperty("unk_token", out var unk) && unk.ValueKind == JsonValueKind.String ? unk.GetString() : null;
        return new WordLevelTokenizer(vocab, added, bos, eos, config?.AddBos ?? templateBos is not null, unknown, path);
    }

    private static ITokenizer BuildByteLevel(string path, Dictionary<string, int> vocab, List<(string, string)> merges,
        Dictionary<string, int> added, List<JsonElement> preTokenizers, List<JsonElement> normalizers, JsonElement model,
        int? bos, int? eos, bool addsBos)
    {
        PreTokenizerPattern? pattern = null;
        bool addPrefixSpace = false;
        foreach (var p in preTokenizers)
        {
            switch (TypeOf(p))
            {
                case "ByteLevel":
                    addPrefixSpace = Bool(p, "add_prefix_space", false);
                    if (Bool(p, "use_regex", true)) pattern = SetOnce(pattern, new PreTokenizerPattern(PreTokenizerPattern.Gpt2, path), path);
                    break;
                case "Split":
                    pattern = SetOnce(pattern, SplitPattern(p, path), path);
                    break;
                default:
                    throw new HeadMinerException($"{path}: pre_tokenizer {TypeOf(p)} is not supported with a byte-level BPE");
            }
        }
        Func<string, string>? normalize = null;
        foreach (var n in normalizers)
        {
            normalize = TypeOf(n) switch
            {
                "NFC" => s => s.Normalize(NormalizationForm.FormC),
                "NFKC" => s => s.Normalize(NormalizationForm.FormKC),
                _ => throw new HeadMinerException($"{path}: normalizer {TypeOf(n)} is not supported with a byte-level BPE"),
            };
        }
        if (normalizers.Count > 1) throw new HeadMinerException($"{path}: more than one normalizer is not supported with a byte-level BPE");
        bool ignoreMerges = Bool(model, "ignore_merges", false);
        return new ByteLevelBpeTokenizer(vocab, merges, added, pattern, addPrefixSpace, ignoreMerges, normalize, bos, eos, addsBos, path);
    }

    private static ITokenizer BuildSentencePiece(string path, Dictionary<string, int> vocab, List<(string, string)> merges,
        Dictionary<string, int> added, HashSet<int> specialIds, List<JsonElement> preTokenizers, List<JsonElement> normalizers,
        JsonElement model, int? bos, int? eos, bool addsBos)
    {
        var prefix = DummyPrefix.None;
        bool replacesSpace = false, split = false;
        char spaceSymbol = '▁';
        foreach (var n in normalizers)
        {
            switch (TypeOf(n))
            {
                case "Prepend" when n.GetProperty("prepend").GetString() == "▁":
                    prefix = DummyPrefix.Always;
                    break;
                case "Replace" when Literal(n.GetProperty("pattern")) == " " && n.GetProperty("content").GetString() == "▁":
                    replacesSpace = true;
                    break;
                default:
                    throw new HeadMinerException($"{path}: normalizer {n} is not supported with a SentencePiece-style BPE");
            }
        }
        foreach (var p in preTokenizers)
        {
            if (TypeOf(p) != "Metaspace") throw new HeadMinerException($"{path}: pre_tokenizer {TypeOf(p)} is not supported with a SentencePiece-style BPE");
            string replacement = p.TryGetProperty("replacement", out var r) ? r.GetString()! : "▁";
            if (replacement.Length != 1) throw new HeadMinerException($"{path}: Metaspace replacement \"{replacement}\" must be one character");
            spaceSymbol = replacement[0];
            replacesSpace = true;
            split = Bool(p, "split", true);
            string scheme = p.TryGetProperty("prepend_scheme", out var s) ? s.GetString()! : Bool(p, "add_prefix_space", true) ? "always" : "never";
            prefix = scheme switch
            {
                "always" => DummyPrefix.UnlessStartsWithSpace,
                "first" => DummyPrefix.FirstSegmentUnlessStartsWithSpace,
                "never" => DummyPrefix.None,
                _ => throw new HeadMinerException($"{path}: Metaspace prepend_scheme \"{scheme}\" is not supported"),
            };
        }
        if (!replacesSpace) throw new HeadMinerException($"{path}: neither a byte-level pre-tokenizer nor a SentencePiece space replacement (Replace \" \"→\"▁\" or Metaspace); this BPE is not supported");
        if (prefix == DummyPrefix.Always && spaceSymbol != '▁') throw new HeadMinerException($"{path}: Prepend \"▁\" with Metaspace replacement \"{spaceSymbol}\" is not supported");

        int size = Math.Max(vocab.Count == 0 ? 0 : vocab.Values.Max() + 1, added.Count == 0 ? 0 : added.Values.Max() + 1);
        var pieces = new string[size];
        foreach (var (piece, id) in vocab) pieces[id] = piece;
        foreach (var (content, id) in added) pieces[id] ??= content;
        int? unk = model.TryGetProperty("unk_token", out var u) && u.ValueKind == JsonValueKind.String && vocab.TryGetValue(u.GetString()!, out int unkId) ? unkId : null;
        // Added tokens are all matched in the text; only those marked special disappear when decoding.
        return new SentencePieceBpeTokenizer(pieces, null, merges, added, specialIds, spaceSymbol, prefix, split,
            Bool(model, "byte_fallback", false), unk, Bool(model, "fuse_unk", false), bos, eos, addsBos, path);
    }

    private static PreTokenizerPattern SetOnce(PreTokenizerPattern? current, PreTokenizerPattern next, string path) =>
        current is null ? next : throw new HeadMinerException($"{path}: more than one splitting pre-tokenizer is not supported");

    private static PreTokenizerPattern SplitPattern(JsonElement split, string path)
    {
        string behavior = split.TryGetProperty("behavior", out var b) ? b.GetString()! : "Isolated";
        if (behavior != "Isolated" || Bool(split, "invert", false))
        {
            throw new HeadMinerException($"{path}: Split with behavior {behavior}, invert {Bool(split, "invert", false)} is not supported (only Isolated, not inverted)");
        }
        var pattern = split.GetProperty("pattern");
        string regex = pattern.TryGetProperty("Regex", out var r) ? r.GetString()! : Regex.Escape(pattern.GetProperty("String").GetString()!);
        return new PreTokenizerPattern(regex, $"{path}: pre_tokenizer Split");
    }

    private static string? Literal(JsonElement pattern) => pattern.TryGetProperty("String", out var s) ? s.GetString() : null;

    // BOS from a TemplateProcessing post-processor whose single-sequence template starts with a special token.
    private static int? TemplateBos(JsonElement root, Func<string?, int?> id)
    {
        if (!root.TryGetProperty("post_processor", out var post) || post.ValueKind != JsonValueKind.Object) return null;
        var processors = post.TryGetProperty("processors", out var list) ? list.EnumerateArray().ToList() : [post];
        foreach (var p in processors)
        {
            if (TypeOf(p) != "TemplateProcessing" || !p.TryGetProperty("single", out var single) || single.GetArrayLength() == 0) continue;
            if (single[0].TryGetProperty("SpecialToken", out var first)) return id(first.GetProperty("id").GetString());
        }
        return null;
    }

    // A component that may be null, a single object, or a Sequence of them.
    private static List<JsonElement> Flatten(JsonElement root, string name, string sequenceField)
    {
        var result = new List<JsonElement>();
        if (!root.TryGetProperty(name, out var element) || element.ValueKind != JsonValueKind.Object) return result;
        void Add(JsonElement e)
        {
            if (TypeOf(e) == "Sequence")
            {
                foreach (var inner in e.GetProperty(sequenceField).EnumerateArray()) Add(inner);
            }
            else
            {
                result.Add(e);
            }
        }
        Add(element);
        return result;
    }

    private static string TypeOf(JsonElement e) => e.TryGetProperty("type", out var t) ? t.GetString() ?? "" : "";

    private static bool Bool(JsonElement e, string name, bool fallback) =>
        e.TryGetProperty(name, out var v) && v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : fallback;
}
