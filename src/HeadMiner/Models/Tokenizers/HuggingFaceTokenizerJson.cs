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
            return Build(new JsonAt(doc.RootElement, "", path), path, TokenizerConfig.Read(configPath));
        }
    }

    // Why BOS is or is not prepended by default, in the order the default is decided below: transformers' own
    // add_bos_token wins, else the post-processor template (what tokenizers' encode does), else none.
    private static string BosRule(TokenizerConfig? config, int? templateBos) =>
        config?.AddBosRule
        ?? (templateBos is not null ? "tokenizer.json's post-processor template starts with it"
            : "no add_bos_token in tokenizer_config.json and no BOS in tokenizer.json's post-processor template");

    private static ITokenizer Build(JsonAt root, string path, TokenizerConfig? config)
    {
        var model = root.Required("model");
        string type = model.String("type", "BPE")!;
        if (type is "WordLevel" or "WordPiece") return BuildWordLevel(root, model, path, config);
        if (type != "BPE") throw new HeadMinerException($"{path}: model.type {JsonAt.Clip(type)} is not supported (only BPE, WordLevel and WordPiece)");
        foreach (string unsupported in new[] { "continuing_subword_prefix", "end_of_word_suffix", "dropout" })
        {
            if (model.Optional(unsupported) is { } v && !(v.Kind == JsonValueKind.String && v.String() == ""))
            {
                throw new HeadMinerException($"{path}: model.{unsupported} = {v.Raw()} is not supported");
            }
        }

        var vocab = Vocabulary(model);
        var merges = new List<(string, string)>();
        foreach (var m in model.Optional("merges")?.Items() ?? [])
        {
            if (m.Kind == JsonValueKind.Array)
            {
                if (m.Count() != 2) throw m.Fail($"{m.Name} has {m.Count()} items; a merge is [left, right]");
                merges.Add((m[0].String(), m[1].String()));
                continue;
            }
            string rule = m.String();
            int space = rule.IndexOf(' ', StringComparison.Ordinal);
            if (space <= 0) throw m.Fail($"merge {merges.Count + 1} \"{JsonAt.Clip(rule)}\" is not \"left right\"");
            merges.Add((rule[..space], rule[(space + 1)..]));
        }

        var (added, specialIds) = AddedTokens(root, out var lstrip, out var rstrip, out var normalizedTokens);
        var strip = (lstrip, rstrip);
        int? Id(string? name) => name is null ? null : added.TryGetValue(name, out int i) ? i : vocab.TryGetValue(name, out int j) ? j : null;
        int? templateBos = TemplateBos(root, Id);
        int? bos = Id(config?.Bos) ?? templateBos ?? BosNames.Select(Id).FirstOrDefault(i => i is not null);
        int? eos = Id(config?.Eos) ?? EosNames.Select(Id).FirstOrDefault(i => i is not null);
        bool addsBos = config?.AddBos ?? templateBos is not null;
        string bosRule = BosRule(config, templateBos);

        var preTokenizers = Flatten(root, "pre_tokenizer", "pretokenizers");
        var normalizers = Flatten(root, "normalizer", "normalizers");
        bool byteLevel = preTokenizers.Any(p => TypeOf(p) == "ByteLevel");
        CheckNormalizedAddedTokens(normalizedTokens, normalizers);

        if (byteLevel) return BuildByteLevel(path, vocab, merges, added, preTokenizers, normalizers, model, bos, eos, addsBos, bosRule, strip);
        return BuildSentencePiece(root, path, vocab, merges, added, specialIds, preTokenizers, normalizers, model, bos, eos, addsBos, bosRule, strip);
    }

    private static Dictionary<string, int> Vocabulary(JsonAt model)
    {
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (piece, id) in model.Required("vocab").Members()) vocab[piece] = id.Int();
        return vocab;
    }

    // added_tokens: [{"id", "content", "special"?, "lstrip"?, "rstrip"?, "single_word"?}, ...]; anything but an
    // array counts as none, as before.
    private static (Dictionary<string, int> Added, HashSet<int> SpecialIds) AddedTokens(JsonAt root, out List<string> lstrip, out List<string> rstrip) =>
        AddedTokens(root, out lstrip, out rstrip, out _);

    private static (Dictionary<string, int> Added, HashSet<int> SpecialIds) AddedTokens(JsonAt root, out List<string> lstrip, out List<string> rstrip,
        out List<JsonAt> normalized)
    {
        var added = new Dictionary<string, int>(StringComparer.Ordinal);
        var specialIds = new HashSet<int>();
        lstrip = [];
        rstrip = [];
        normalized = [];
        if (root.Optional("added_tokens") is not { Kind: JsonValueKind.Array } list) return (added, specialIds);
        foreach (var a in list.Items())
        {
            string content = a.Required("content").String();
            if (content.Length == 0) throw a.Fail($"{a.Name}.content is empty");
            int id = a.Required("id").Int();
            added[content] = id;
            if (a.Optional("special") is { Kind: JsonValueKind.True }) specialIds.Add(id);
            if (a.Bool("single_word", false)) throw a.Fail($"{a.Name}.single_word is true for \"{JsonAt.Clip(content)}\"; added tokens that match only whole words are not supported");
            if (a.Bool("lstrip", false)) lstrip.Add(content);
            if (a.Bool("rstrip", false)) rstrip.Add(content);
            if (a.Bool("normalized", false)) normalized.Add(a);
        }
        return (added, specialIds);
    }

    /// <summary>
    /// WordLevel or WordPiece with a whitespace pre-tokenizer and no normalizer: any other combination is refused.
    /// WordPiece adds its continuing_subword_prefix (default "##") and max_input_chars_per_word (default 100), and
    /// its decoder, when present, must be WordPiece with the same prefix and cleanup off (cleanup rewrites text around
    /// punctuation and contractions, which the round trip of a word-level vocabulary does not do).
    /// </summary>
    private static ITokenizer BuildWordLevel(JsonAt root, JsonAt model, string path, TokenizerConfig? config)
    {
        var vocab = Vocabulary(model);
        string kind = model.String("type", "BPE")!;
        if (Flatten(root, "normalizer", "normalizers").Count > 0) throw new HeadMinerException($"{path}: a normalizer on a {kind} model is not supported");
        // WhitespaceSplit, optionally followed by one Split (Isolated) that cuts the words further (the toy English's
        // punctuation and years); a Split before the whitespace split would see spaces, which this order never does.
        PreTokenizerPattern? isolate = null;
        var preTokenizers = Flatten(root, "pre_tokenizer", "pretokenizers");
        for (int i = 0; i < preTokenizers.Count; i++)
        {
            var p = preTokenizers[i];
            if (TypeOf(p) == "Split" && i > 0 && isolate is null) isolate = SplitPattern(p, path);
            else if (TypeOf(p) != "WhitespaceSplit" || isolate is not null)
                throw new HeadMinerException($"{path}: pre-tokenizer {JsonAt.Clip(TypeOf(p))} at position {i} on a {kind} model is not supported (only WhitespaceSplit, then at most one Split)");
        }
        var (added, _) = AddedTokens(root, out var lstrip, out var rstrip);
        if (lstrip.Count + rstrip.Count > 0) throw new HeadMinerException($"{path}: added tokens with lstrip/rstrip on a {kind} model are not supported");
        int? Id(string? name) => name is null ? null : added.TryGetValue(name, out int i) ? i : vocab.TryGetValue(name, out int j) ? j : null;
        int? templateBos = TemplateBos(root, Id);
        int? bos = Id(config?.Bos) ?? templateBos ?? BosNames.Select(Id).FirstOrDefault(i => i is not null);
        int? eos = Id(config?.Eos) ?? EosNames.Select(Id).FirstOrDefault(i => i is not null);
        string? unknown = model.Optional("unk_token") is { Kind: JsonValueKind.String } unk ? unk.String() : null;
        bool addsBos = config?.AddBos ?? templateBos is not null;
        if (kind != "WordPiece")
            return new WordLevelTokenizer(vocab, added, bos, eos, addsBos, unknown, path, isolate) { BosRule = BosRule(config, templateBos) };
        string prefix = model.Optional("continuing_subword_prefix") is { Kind: JsonValueKind.String } prefixAt ? prefixAt.String() : "##";
        if (prefix.Length == 0) throw new HeadMinerException($"{path}: model.continuing_subword_prefix is empty; a WordPiece prefix must mark continuation pieces");
        int maxChars = model.Optional("max_input_chars_per_word") is { Kind: JsonValueKind.Number } maxAt ? maxAt.Int() : 100;
        if (maxChars < 1) throw new HeadMinerException($"{path}: model.max_input_chars_per_word = {maxChars} is not positive");
        bool glue = false;
        if (root.Optional("decoder") is { Kind: JsonValueKind.Object } decoder)
        {
            if (TypeOf(decoder) != "WordPiece") throw decoder.Fail($"decoder {JsonAt.Clip(TypeOf(decoder))} on a WordPiece model is not supported (only WordPiece, or none)");
            string decoderPrefix = decoder.String("prefix", "##")!;
            if (decoderPrefix != prefix) throw decoder.Fail($"decoder.prefix \"{JsonAt.Clip(decoderPrefix)}\" differs from model.continuing_subword_prefix \"{JsonAt.Clip(prefix)}\"");
            if (decoder.Bool("cleanup", true)) throw decoder.Fail("decoder.cleanup is true; WordPiece's cleanup (spaces before punctuation, contractions) is not supported");
            glue = true;
        }
        return new WordLevelTokenizer(vocab, added, bos, eos, addsBos, unknown, path, isolate)
        {
            BosRule = BosRule(config, templateBos),
            ContinuingSubwordPrefix = prefix,
            MaxInputCharsPerWord = maxChars,
            DecodesContinuations = glue,
        };
    }

    private static ITokenizer BuildByteLevel(string path, Dictionary<string, int> vocab, List<(string, string)> merges,
        Dictionary<string, int> added, List<JsonAt> preTokenizers, List<JsonAt> normalizers, JsonAt model,
        int? bos, int? eos, bool addsBos, string bosRule, (List<string>, List<string>) strip)
    {
        PreTokenizerPattern? pattern = null;
        bool addPrefixSpace = false;
        foreach (var p in preTokenizers)
        {
            switch (TypeOf(p))
            {
                case "ByteLevel":
                    addPrefixSpace = p.Bool("add_prefix_space", false);
                    if (p.Bool("use_regex", true)) pattern = SetOnce(pattern, new PreTokenizerPattern(PreTokenizerPattern.Gpt2, path), path);
                    break;
                case "Split":
                    pattern = SetOnce(pattern, SplitPattern(p, path), path);
                    break;
                default:
                    throw p.Fail($"{p.Name} {p.Raw()} is not supported with a byte-level BPE (only ByteLevel and Split)");
            }
        }
        Func<string, string>? normalize = null;
        foreach (var n in normalizers)
        {
            normalize = TypeOf(n) switch
            {
                // Not string.Normalize: under InvariantGlobalization it leaves non-ASCII text unchanged.
                "NFC" => UnicodeNormalization.Nfc,
                "NFKC" => UnicodeNormalization.Nfkc,
                _ => throw n.Fail($"{n.Name} {n.Raw()} is not supported with a byte-level BPE (only NFC and NFKC)"),
            };
        }
        if (normalizers.Count > 1) throw new HeadMinerException($"{path}: more than one normalizer is not supported with a byte-level BPE");
        bool ignoreMerges = model.Bool("ignore_merges", false);
        return new ByteLevelBpeTokenizer(vocab, merges, added, pattern, addPrefixSpace, ignoreMerges, normalize, bos, eos, addsBos, path) { BosRule = bosRule, AddedTokenStrip = strip };
    }

    private static ITokenizer BuildSentencePiece(JsonAt root, string path, Dictionary<string, int> vocab, List<(string, string)> merges,
        Dictionary<string, int> added, HashSet<int> specialIds, List<JsonAt> preTokenizers, List<JsonAt> normalizers,
        JsonAt model, int? bos, int? eos, bool addsBos, string bosRule, (List<string>, List<string>) strip)
    {
        var prefix = DummyPrefix.None;
        bool replacesSpace = false, split = false;
        char spaceSymbol = '▁';
        foreach (var n in normalizers)
        {
            switch (TypeOf(n))
            {
                case "Prepend" when n.String("prepend", null) == "▁":
                    prefix = DummyPrefix.Always;
                    break;
                case "Replace" when n.Optional("pattern") is { Kind: JsonValueKind.Object } pattern && pattern.String("String", null) == " " && n.String("content", null) == "▁":
                    replacesSpace = true;
                    break;
                default:
                    throw n.Fail($"{n.Name} {n.Raw()} is not supported with a SentencePiece-style BPE (only Prepend \"▁\" and Replace \" \"→\"▁\")");
            }
        }
        foreach (var p in preTokenizers)
        {
            // Gemma's Split on " " after its Replace " "→"▁" normalizer: no space is left to split on.
            if (TypeOf(p) == "Split" && replacesSpace && p.Optional("pattern") is { Kind: JsonValueKind.Object } on && on.String("String", null) == " " && !p.Bool("invert", false))
            {
                continue;
            }
            if (TypeOf(p) != "Metaspace")
            {
                throw p.Fail($"{p.Name} {p.Raw()} is not supported with a SentencePiece-style BPE (only Metaspace, or Split on \" \" after a Replace \" \"→\"▁\" normalizer)");
            }
            string replacement = p.String("replacement", "▁")!;
            if (replacement.Length != 1) throw p.Fail($"{p.Name}.replacement \"{JsonAt.Clip(replacement)}\" must be one character");
            spaceSymbol = replacement[0];
            replacesSpace = true;
            split = p.Bool("split", true);
            string scheme = MetaspaceScheme(p);
            prefix = scheme switch
            {
                "always" => DummyPrefix.UnlessStartsWithSpace,
                "first" => DummyPrefix.FirstSegmentUnlessStartsWithSpace,
                "never" => DummyPrefix.None,
                _ => throw p.Fail($"{p.Name}.prepend_scheme \"{JsonAt.Clip(scheme)}\" is not supported (only first, always, never)"),
            };
        }
        if (!replacesSpace) throw new HeadMinerException($"{path}: neither a byte-level pre-tokenizer nor a SentencePiece space replacement (Replace \" \"→\"▁\" or Metaspace); this BPE is not supported");
        if (prefix == DummyPrefix.Always && spaceSymbol != '▁') throw new HeadMinerException($"{path}: Prepend \"▁\" with Metaspace replacement \"{spaceSymbol}\" is not supported");

        int size = VocabularyIds.Size(vocab.Concat(added), path);
        var pieces = new string[size];
        foreach (var (piece, id) in vocab) pieces[id] = piece;
        foreach (var (content, id) in added) pieces[id] ??= content;
        int? unk = model.Optional("unk_token") is { Kind: JsonValueKind.String } u && vocab.TryGetValue(u.String(), out int unkId) ? unkId : null;
        // Added tokens are all matched in the text; only those marked special disappear when decoding.
        return new SentencePieceBpeTokenizer(pieces, null, merges, added, specialIds, spaceSymbol, prefix, split,
            model.Bool("byte_fallback", false), unk, model.Bool("fuse_unk", false), bos, eos, addsBos, path)
        {
            BosRule = bosRule,
            DecodeStripsAfterBos = false,
            DecodeLeadingSpaces = DecoderLeadingSpaces(root, prefix),
            AddedTokenStrip = strip,
        };
    }

    // An added token marked "normalized": true is matched in the normalized text, with its own content normalized.
    // That equals matching the raw text (what HeadMiner does) only when the normalizer leaves the content as it is and
    // does not prepend: true without a normalizer, for Gemma's Replace " "→"▁" on content without spaces, for NFC/NFKC
    // on ASCII content; Llama's legacy Prepend "▁" would turn "<x>" into "▁<x>". Anything else is refused.
    private static void CheckNormalizedAddedTokens(List<JsonAt> tokens, List<JsonAt> normalizers)
    {
        foreach (var token in tokens)
        {
            string content = token.Required("content").String();
            foreach (var n in normalizers)
            {
                bool unchanged = TypeOf(n) switch
                {
                    "Replace" => n.Optional("pattern")?.String("String", null) is string from && from.Length > 0 && !content.Contains(from, StringComparison.Ordinal),
                    "NFC" or "NFKC" => content.All(char.IsAscii),
                    _ => false,
                };
                if (!unchanged)
                {
                    throw token.Fail($"{token.Name} \"{JsonAt.Clip(content)}\" has \"normalized\": true and the normalizer {JsonAt.Clip(TypeOf(n))} would change "
                        + "how it is matched; added tokens matched in normalized text are not supported there");
                }
            }
        }
    }

    // How many leading spaces a SentencePiece-style decoder strips from the decoded text: Strip's start (Llama's
    // Sequence[Replace, ByteFallback, Fuse, Strip]), 1 for a Metaspace decoder that prepends, 0 for Gemma's
    // Sequence[Replace, ByteFallback, Fuse]; with no decoder, what the dummy prefix added.
    private static int DecoderLeadingSpaces(JsonAt root, DummyPrefix prefix)
    {
        if (root.Optional("decoder") is not { Kind: JsonValueKind.Object }) return prefix == DummyPrefix.None ? 0 : 1;
        int strip = 0;
        foreach (var d in Flatten(root, "decoder", "decoders"))
        {
            switch (TypeOf(d))
            {
                case "Replace" or "ByteFallback" or "Fuse":
                    break;
                case "Strip" when d.String("content", " ") == " " && (d.Optional("stop")?.Int() ?? 0) == 0:
                    strip = d.Optional("start")?.Int() ?? 0;
                    break;
                case "Metaspace":
                    strip = MetaspaceScheme(d) == "never" ? 0 : 1;
                    break;
                default:
                    throw d.Fail($"{d.Name} {d.Raw()} is not supported with a SentencePiece-style BPE (only Replace, ByteFallback, Fuse, Strip of leading spaces, Metaspace)");
            }
        }
        return strip;
    }

    // A Metaspace pre-tokenizer's or decoder's prepend_scheme; older files say add_prefix_space instead.
    private static string MetaspaceScheme(JsonAt metaspace) =>
        metaspace.String("prepend_scheme", null) ?? (metaspace.Bool("add_prefix_space", true) ? "always" : "never");

    private static PreTokenizerPattern SetOnce(PreTokenizerPattern? current, PreTokenizerPattern next, string path) =>
        current is null ? next : throw new HeadMinerException($"{path}: more than one splitting pre-tokenizer is not supported");

    private static PreTokenizerPattern SplitPattern(JsonAt split, string path)
    {
        string behavior = split.String("behavior", "Isolated")!;
        if (behavior != "Isolated" || split.Bool("invert", false))
        {
            throw new HeadMinerException($"{path}: Split with behavior {JsonAt.Clip(behavior)}, invert {split.Bool("invert", false)} is not supported (only Isolated, not inverted)");
        }
        var pattern = split.Required("pattern");
        string regex = pattern.Optional("Regex") is { } r ? r.String() : Regex.Escape(pattern.Required("String").String());
        return new PreTokenizerPattern(regex, $"{path}: pre_tokenizer Split");
    }

    // BOS from a TemplateProcessing post-processor whose single-sequence template starts with a special token.
    private static int? TemplateBos(JsonAt root, Func<string?, int?> id)
    {
        if (root.Optional("post_processor") is not { Kind: JsonValueKind.Object } post) return null;
        var processors = post.Optional("processors") is { } list ? list.Items().ToList() : [post];
        foreach (var p in processors)
        {
            if (TypeOf(p) != "TemplateProcessing" || p.Optional("single") is not { } single || single.Count() == 0) continue;
            if (single[0].Kind == JsonValueKind.Object && single[0].Optional("SpecialToken") is { } first) return id(first.Required("id").String());
        }
        return null;
    }

    // A component that may be null, a single object, or a Sequence of them.
    private static List<JsonAt> Flatten(JsonAt root, string name, string sequenceField)
    {
        var result = new List<JsonAt>();
        if (root.Optional(name) is not { Kind: JsonValueKind.Object } element) return result;
        void Add(JsonAt e)
        {
            if (TypeOf(e) == "Sequence")
            {
                foreach (var inner in e.Required(sequenceField).Items()) Add(inner);
            }
            else
            {
                result.Add(e);
            }
        }
        Add(element);
        return result;
    }

    private static string TypeOf(JsonAt e) => e.String("type", "")!;
}
