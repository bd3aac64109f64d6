using System.Text.Json;
using System.Text.Json.Nodes;
using HeadMiner.Models.Tokenizers;

namespace HeadMiner.Tests.Tokenizers;

/// <summary>Hugging Face tokenizer.json loading, on small hand-built files whose ids can be worked out by hand.</summary>
public sealed class TokenizerJsonTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("headminer-tokenizer-json-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    // OpenAI's bytes_to_unicode, written out again here so the test does not trust the library's copy.
    private static string ByteChar(int b)
    {
        bool printable = b is >= 0x21 and <= 0x7E or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
        if (printable) return ((char)b).ToString();
        int n = 0;
        for (int k = 0; k < b; k++)
        {
            if (!(k is >= 0x21 and <= 0x7E or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF)) n++;
        }
        return ((char)(256 + n)).ToString();
    }

    private ITokenizer Load(JsonObject json, string name = "tokenizer.json")
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllText(path, json.ToJsonString());
        return HuggingFaceTokenizerJson.Load(path);
    }

    // Byte-level: ids 0..255 are the bytes in order, then Ġt, he, Ġthe, 12, "ab" (no merge makes it), <|end|>.
    private static JsonObject ByteLevelJson(bool ignoreMerges, string splitRegex)
    {
        var vocab = new JsonObject();
        for (int b = 0; b < 256; b++) vocab[ByteChar(b)] = b;
        vocab["Ġt"] = 256;
        vocab["he"] = 257;
        vocab["Ġthe"] = 258;
        vocab["12"] = 259;
        vocab["ab"] = 261;
        return new JsonObject
        {
            ["version"] = "1.0",
            ["added_tokens"] = new JsonArray(new JsonObject { ["id"] = 260, ["content"] = "<|end|>", ["special"] = true }),
            ["normalizer"] = null,
            ["pre_tokenizer"] = new JsonObject
            {
                ["type"] = "Sequence",
                ["pretokenizers"] = new JsonArray(
                    new JsonObject { ["type"] = "Split", ["pattern"] = new JsonObject { ["Regex"] = splitRegex }, ["behavior"] = "Isolated", ["invert"] = false },
                    new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = false }),
            },
            ["post_processor"] = new JsonObject { ["type"] = "ByteLevel" },
            ["decoder"] = new JsonObject { ["type"] = "ByteLevel" },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE",
                ["dropout"] = null,
                ["unk_token"] = null,
                ["byte_fallback"] = false,
                ["ignore_merges"] = ignoreMerges,
                ["vocab"] = vocab,
                ["merges"] = new JsonArray("Ġ t", "h e", "Ġt he", new JsonArray("1", "2")),
            },
        };
    }

    [Fact]
    public void ByteLevelJsonMatchesSpecialTokensLiterallyAndSplitsLikeLlama3()
    {
        var tok = Load(ByteLevelJson(ignoreMerges: false, PreTokenizerPattern.Llama3));
        // "the" → t, he; <|end|> → 260; " the" → Ġthe; " " alone (\s+ before a digit); "123" → 12, 3; "45" → 4, 5.
        Assert.Equal([116, 257, 260, 258, 32, 259, 51, 52, 53], tok.Encode("the<|end|> the 12345"));
        Assert.Equal("the<|end|> the 12345", tok.Decode(tok.Encode("the<|end|> the 12345")));
        Assert.Equal("<|end|>", tok.TokenToString(260));
        Assert.Equal(" the", tok.TokenToString(258));
        Assert.Equal(260, tok.TokenToId("<|end|>"));
        Assert.False(tok.AddsBosByDefault);
        Assert.Equal(262, tok.VocabSize);
    }

    [Fact]
    public void UnassignedIdsBelowSpecialTokensDecodeToNothing()
    {
        // cl100k_base-style: the special token sits above a gap of unused ids.
        var json = ByteLevelJson(ignoreMerges: false, PreTokenizerPattern.Gpt2);
        json["added_tokens"] = new JsonArray(new JsonObject { ["id"] = 300, ["content"] = "<|end|>", ["special"] = true });
        var tok = Load(json);
        Assert.Equal(301, tok.VocabSize);
        Assert.Equal("a<|end|>", tok.Decode([97, 280, 300]));
        Assert.Equal([97, 300], tok.Encode("a<|end|>"));
    }

    [Fact]
    public void IgnoreMergesTakesAWholeWordFromTheVocabulary()
    {
        Assert.Equal([97, 98], Load(ByteLevelJson(ignoreMerges: false, PreTokenizerPattern.Llama3)).Encode("ab"));
        Assert.Equal([261], Load(ByteLevelJson(ignoreMerges: true, PreTokenizerPattern.Llama3)).Encode("ab"));
    }

    [Fact]
    public void ByteLevelJsonRoundTripsArbitraryText()
    {
        var tok = Load(ByteLevelJson(ignoreMerges: true, PreTokenizerPattern.Qwen2));
        foreach (string text in new[] { "", "naïve 中文 👨‍👩‍👧‍👦", "  \n\n\t x", "<|end|><|end|>", "'S 'll ’s", "𝐀𝐁 𠀀 123456" })
        {
            Assert.Equal(text, tok.Decode(tok.Encode(text)));
        }
    }

    // SentencePiece-style: <unk> <s> </s>, <0x00>..<0xFF> at 3..258, then ▁ h e l o ▁h ll ▁he ▁hell ▁hello.
    private static JsonObject SentencePieceJson(bool metaspace, bool byteFallback)
    {
        var vocab = new JsonObject { ["<unk>"] = 0, ["<s>"] = 1, ["</s>"] = 2 };
        for (int b = 0; b < 256; b++) vocab[$"<0x{b:X2}>"] = 3 + b;
        string[] pieces = ["▁", "h", "e", "l", "o", "▁h", "ll", "▁he", "▁hell", "▁hello"];
        for (int i = 0; i < pieces.Length; i++) vocab[pieces[i]] = 259 + i;
        vocab["<sep>"] = 269;
        JsonNode Added(int id, string content) => new JsonObject { ["id"] = id, ["content"] = content, ["special"] = true, ["normalized"] = false };
        var prepend = new JsonObject
        {
            ["type"] = "Sequence",
            ["normalizers"] = new JsonArray(
                new JsonObject { ["type"] = "Prepend", ["prepend"] = "▁" },
                new JsonObject { ["type"] = "Replace", ["pattern"] = new JsonObject { ["String"] = " " }, ["content"] = "▁" }),
        };
        var meta = new JsonObject { ["type"] = "Metaspace", ["replacement"] = "▁", ["prepend_scheme"] = "first", ["split"] = false };
        return new JsonObject
        {
            ["added_tokens"] = new JsonArray(Added(0, "<unk>"), Added(1, "<s>"), Added(2, "</s>"),
                new JsonObject { ["id"] = 269, ["content"] = "<sep>", ["special"] = false, ["normalized"] = false }),
            ["normalizer"] = metaspace ? null : prepend,
            ["pre_tokenizer"] = metaspace ? meta : null,
            ["post_processor"] = new JsonObject
            {
                ["type"] = "TemplateProcessing",
                ["single"] = new JsonArray(
                    new JsonObject { ["SpecialToken"] = new JsonObject { ["id"] = "<s>", ["type_id"] = 0 } },
                    new JsonObject { ["Sequence"] = new JsonObject { ["id"] = "A", ["type_id"] = 0 } }),
            },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE",
                ["unk_token"] = "<unk>",
                ["fuse_unk"] = true,
                ["byte_fallback"] = byteFallback,
                ["vocab"] = vocab,
                ["merges"] = new JsonArray("▁ h", "l l", "▁h e", "▁he ll", "▁hell o"),
            },
        };
    }

    [Fact]
    public void SentencePieceJsonMergesByRankWithByteFallback()
    {
        var tok = Load(SentencePieceJson(metaspace: false, byteFallback: true));
        Assert.Equal(1, tok.BosId);
        Assert.Equal(2, tok.EosId);
        Assert.True(tok.AddsBosByDefault);
        Assert.Equal([1, 268, 268], tok.Encode("hello hello"));
        Assert.Equal([1, 264, 3 + 'i', 3 + '!'], tok.Encode("hi!"));
        Assert.Equal([259, 3 + 0xC3, 3 + 0xA9], tok.Encode("é", addBos: false));
        Assert.Equal([259, 268], tok.Encode(" hello", addBos: false)); // Prepend always adds its ▁
        // Special tokens in the text are matched literally; the segment after one gets its own dummy prefix.
        Assert.Equal([1, 1, 268, 2], tok.Encode("<s>hello</s>"));
        Assert.Equal("hello", tok.Decode([1, 1, 268, 2]));
        Assert.Equal(" hello", tok.TokenToString(268));
        Assert.Equal("!", tok.TokenToString(3 + '!'));
        Assert.Equal(268, tok.TokenToId("▁hello"));
        foreach (string text in new[] { "hello", " hello", "  two  spaces ", "é 中文 😀", "\n\thello\n", "" })
        {
            Assert.Equal(text, tok.Decode(tok.Encode(text)));
            Assert.Equal(text, tok.Decode(tok.Encode(text, addBos: false)));
        }
    }

    [Fact]
    public void NonSpecialAddedTokensAreMatchedAndKeptAsText()
    {
        var tok = Load(SentencePieceJson(metaspace: false, byteFallback: true));
        // As in Hugging Face, the Prepend normalizer gives the segment after an added token its own "▁".
        Assert.Equal([268, 269, 268], tok.Encode("hello<sep>hello", addBos: false));
        Assert.Equal("hello<sep> hello", tok.Decode([268, 269, 268]));
        Assert.Equal("<sep>", tok.TokenToString(269));
    }

    [Fact]
    public void SentencePieceJsonWithoutByteFallbackFusesUnknowns()
    {
        var tok = Load(SentencePieceJson(metaspace: false, byteFallback: false));
        Assert.Equal([1, 264, 0], tok.Encode("hi!!"));
    }

    [Fact]
    public void MetaspaceFirstDoesNotDoubleALeadingSpace()
    {
        var tok = Load(SentencePieceJson(metaspace: true, byteFallback: true));
        Assert.Equal([268], tok.Encode(" hello", addBos: false));
        Assert.Equal([268, 268], tok.Encode("hello hello", addBos: false));
        // prepend_scheme "first": the segment after a special token gets no ▁.
        Assert.Equal([1, 260, 261, 265, 263], tok.Encode("<s>hello", addBos: false)); // h e ll o
    }

    [Fact]
    public void UnsupportedPartsAreRefusedByName()
    {
        var json = ByteLevelJson(ignoreMerges: false, PreTokenizerPattern.Gpt2);
        json["model"]!["type"] = "Unigram";
        var e = Assert.Throws<HeadMinerException>(() => Load(json));
        Assert.Contains("model.type Unigram is not supported", e.Message);
        Assert.Contains("tokenizer.json", e.Message);
        // WordPiece is read, but only with the whitespace pre-tokenizers of a word-level vocabulary, not ByteLevel.
        json["model"]!["type"] = "WordPiece";
        e = Assert.Throws<HeadMinerException>(() => Load(json));
        Assert.Contains("on a WordPiece model is not supported", e.Message);
        Assert.Contains("tokenizer.json", e.Message);

        var sp = SentencePieceJson(metaspace: false, byteFallback: true);
        sp["normalizer"] = new JsonObject { ["type"] = "Lowercase" };
        Assert.Contains("Lowercase", Assert.Throws<HeadMinerException>(() => Load(sp)).Message);

        string broken = Path.Combine(_dir, "broken.json");
        File.WriteAllText(broken, "{ not json");
        Assert.Contains(broken, Assert.Throws<HeadMinerException>(() => HuggingFaceTokenizerJson.Load(broken)).Message);
    }

    [Fact]
    public void Gpt2AsTokenizerJsonMatchesTheParityCorpus()
    {
        // The real GPT-2 vocabulary and merges, in the layout Hugging Face writes for GPT2TokenizerFast.
        var vocab = JsonNode.Parse(File.ReadAllText(TokenizerTestFiles.SharedFile("gpt2-small-attention-only", "vocab.json")))!;
        var merges = new JsonArray();
        foreach (string line in File.ReadLines(TokenizerTestFiles.SharedFile("gpt2-small-attention-only", "merges.txt")).Skip(1))
        {
            if (line.Length > 0) merges.Add(line);
        }
        var json = new JsonObject
        {
            ["added_tokens"] = new JsonArray(new JsonObject { ["id"] = 50256, ["content"] = "<|endoftext|>", ["special"] = true }),
            ["normalizer"] = null,
            ["pre_tokenizer"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = true },
            ["post_processor"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = true, ["trim_offsets"] = false, ["use_regex"] = true },
            ["decoder"] = new JsonObject { ["type"] = "ByteLevel" },
            ["model"] = new JsonObject { ["type"] = "BPE", ["vocab"] = vocab, ["merges"] = merges },
        };
        var tok = Load(json);
        Assert.Equal(50257, tok.VocabSize);
        Assert.Equal(50256, tok.EosId);
        Assert.False(tok.AddsBosByDefault);
        using var fixture = JsonDocument.Parse(File.ReadAllBytes(TokenizerTestFiles.Fixture("gpt2_parity.json")));
        int compared = 0;
        foreach (var c in fixture.RootElement.GetProperty("cases").EnumerateArray())
        {
            if (!c.TryGetProperty("text", out var text)) continue;
            Assert.Equal(c.GetProperty("ids").EnumerateArray().Select(i => i.GetInt32()), tok.Encode(text.GetString()!));
            compared++;
        }
        Assert.True(compared > 2000);
    }
}
