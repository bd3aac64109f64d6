using System.Text.Json.Nodes;
using HeadMiner.Models.Tokenizers;

namespace HeadMiner.Tests.Tokenizers;

/// <summary>
/// Variants of the committed SentencePiece-style layouts (tests/fixtures/tokenizers/sentencepiece): what loads, and
/// that every layout HeadMiner cannot run exactly is one error naming the file and the JSON path of the part.
/// </summary>
public sealed class SentencePieceLayoutTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("headminer-sp-layout-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static JsonObject Layout(string name) =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(Path.GetDirectoryName(TokenizerTestFiles.Fixture("sentencepiece_parity.json"))!,
            "sentencepiece", name, "tokenizer.json")))!.AsObject();

    private string Write(JsonObject json)
    {
        string path = Path.Combine(_dir, "tokenizer.json");
        File.WriteAllText(path, json.ToJsonString());
        return path;
    }

    private void AssertRefused(JsonObject json, params string[] expected)
    {
        string path = Write(json);
        var e = Assert.Throws<HeadMinerException>(() => HuggingFaceTokenizerJson.Load(path));
        Assert.StartsWith(path + ": ", e.Message);
        foreach (string part in expected) Assert.Contains(part, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void ASplitPreTokenizerOtherThanGemmasIsRefusedWithItsPath()
    {
        var json = Layout("gemma");
        json["pre_tokenizer"] = new JsonObject { ["type"] = "Split", ["pattern"] = new JsonObject { ["Regex"] = "\\d" }, ["behavior"] = "Isolated", ["invert"] = false };
        AssertRefused(json, "pre_tokenizer {", "not supported with a SentencePiece-style BPE");

        // Gemma's own Split on " " needs the Replace normalizer before it (else spaces would really be split on).
        json = Layout("gemma");
        json["normalizer"] = null;
        json["pre_tokenizer"] = new JsonObject
        {
            ["type"] = "Sequence",
            ["pretokenizers"] = new JsonArray(
                new JsonObject { ["type"] = "Split", ["pattern"] = new JsonObject { ["String"] = " " }, ["behavior"] = "MergedWithPrevious", ["invert"] = false },
                new JsonObject { ["type"] = "Metaspace", ["replacement"] = "▁", ["prepend_scheme"] = "never", ["split"] = false }),
        };
        AssertRefused(json, "pre_tokenizer.pretokenizers[0] {");
    }

    [Fact]
    public void UnsupportedNormalizersDecodersAndSchemesNameTheirJsonPath()
    {
        var json = Layout("llama_legacy");
        json["normalizer"]!["normalizers"]!.AsArray().Insert(0, new JsonObject { ["type"] = "NFKC" });
        AssertRefused(json, "normalizer.normalizers[0] {\"type\":\"NFKC\"}");

        json = Layout("llama_legacy");
        json["decoder"]!["decoders"]!.AsArray().Add(new JsonObject { ["type"] = "CTC" });
        AssertRefused(json, "decoder.decoders[4] {\"type\":\"CTC\"}");

        json = Layout("llama_metaspace_first");
        json["pre_tokenizer"]!["prepend_scheme"] = "sometimes";
        AssertRefused(json, "pre_tokenizer.prepend_scheme \"sometimes\"");

        json = Layout("llama_metaspace_first");
        json["pre_tokenizer"]!["replacement"] = "__";
        AssertRefused(json, "pre_tokenizer.replacement \"__\" must be one character");
    }

    [Fact]
    public void AddedTokenFlagsThatWouldChangeMatchingAreRefusedOrHonoured()
    {
        var json = Layout("llama_legacy");
        json["added_tokens"]![1]!["single_word"] = true;
        AssertRefused(json, "added_tokens[1].single_word is true for \"<s>\"");

        // Under Llama's legacy Prepend "▁" a normalized added token would be looked for as "▁<sep>".
        json = Layout("llama_legacy");
        var sep = json["added_tokens"]!.AsArray().First(a => (string?)a!["content"] == "<sep>")!;
        sep["normalized"] = true;
        AssertRefused(json, "\"<sep>\" has \"normalized\": true", "Prepend");

        // Gemma's Replace leaves a token without spaces as it is: normalized or not, the same matches.
        json = Layout("gemma");
        json["added_tokens"]![4]!["normalized"] = true;
        var tok = HuggingFaceTokenizerJson.Load(Write(json));
        int id = (int)json["added_tokens"]![4]!["id"]!;
        Assert.Contains(id, tok.Encode("a " + (string)json["added_tokens"]![4]!["content"]! + " b", addBos: false));
    }

    [Fact]
    public void RstripAndLstripTakeTheAdjacentWhitespace()
    {
        var tok = TokenizerLoader.Load(Path.GetDirectoryName(Path.Combine(Path.GetDirectoryName(TokenizerTestFiles.Fixture("sentencepiece_parity.json"))!, "sentencepiece", "llama_legacy", "tokenizer.json"))!);
        int user = tok.TokenToId("<|user|>")!.Value, sep = tok.TokenToId("<sep>")!.Value;
        // <|user|> has rstrip: "\n hi" after it encodes as "hi" would right after it.
        Assert.Equal(tok.Encode("<|user|>hi", addBos: false), tok.Encode("<|user|>\n  hi", addBos: false));
        Assert.Equal(user, tok.Encode("<|user|>\n  hi", addBos: false)[0]);
        // <sep> has lstrip: the spaces before it are gone, the one after it stays.
        Assert.Equal(tok.Encode("a<sep> b", addBos: false), tok.Encode("a \t <sep> b", addBos: false));
        Assert.Contains(sep, tok.Encode("a \t <sep> b", addBos: false));
    }

    // transformers.js ignores Metaspace's split (so the fixture cannot check it); Hugging Face's tokenizers cuts the
    // text before each ▁ (MergedWithNext), so no merge crosses a word start. Worked out by hand on a vocabulary where
    // one would: "hi▁hi" is h, i▁, h, i without the cut and h, i, ▁h, i with it.
    [Theory]
    [InlineData(false, new[] { 4, 6, 4, 5 })]
    [InlineData(true, new[] { 4, 5, 7, 5 })]
    public void MetaspaceSplitCutsBeforeEachSpaceSymbol(bool split, int[] expected)
    {
        var vocab = new JsonObject { ["<unk>"] = 0, ["<s>"] = 1, ["</s>"] = 2, ["▁"] = 3, ["h"] = 4, ["i"] = 5, ["i▁"] = 6, ["▁h"] = 7 };
        var json = new JsonObject
        {
            ["added_tokens"] = new JsonArray(),
            ["normalizer"] = null,
            ["pre_tokenizer"] = new JsonObject { ["type"] = "Metaspace", ["replacement"] = "▁", ["prepend_scheme"] = "never", ["split"] = split },
            ["decoder"] = new JsonObject { ["type"] = "Metaspace", ["replacement"] = "▁", ["prepend_scheme"] = "never", ["split"] = split },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE",
                ["unk_token"] = "<unk>",
                ["byte_fallback"] = false,
                ["vocab"] = vocab,
                ["merges"] = new JsonArray("i ▁", "▁ h"),
            },
        };
        var tok = HuggingFaceTokenizerJson.Load(Write(json));
        Assert.Equal(expected, tok.Encode("hi hi", addBos: false));
        Assert.Equal("hi hi", tok.Decode(expected));
    }

    [Fact]
    public void GemmasTabPieceStandsInForItsByteToken()
    {
        // Older Gemma files: "<0x09>" renamed "\t" by the converter; a tab is that id, and decodes to a tab.
        var tok = TokenizerLoader.Load(Path.Combine(Path.GetDirectoryName(TokenizerTestFiles.Fixture("sentencepiece_parity.json"))!, "sentencepiece", "gemma"));
        int tab = tok.TokenToId("\t")!.Value;
        Assert.Null(tok.TokenToId("<0x09>"));
        Assert.Equal(9 + 0x09, tab); // 9 pieces (pad eos bos unk <mask>, two turn markers, two newline runs), then the bytes
        Assert.Equal([tab, tab], tok.Encode("\t\t", addBos: false));
        Assert.Equal("a\tb", tok.Decode(tok.Encode("a\tb")));
    }

    [Theory]
    [InlineData("llama_legacy", 1)]
    [InlineData("gemma", 2)]
    [InlineData("qwen3", null)]
    public void WithoutTokenizerConfigThePostProcessorDecidesBos(string layout, int? bos)
    {
        // A folder with tokenizer.json alone: Llama's and Gemma's TemplateProcessing start with BOS, Qwen's ByteLevel
        // post-processor adds nothing, the same choice as with their tokenizer_config.json.
        File.Copy(Path.Combine(Path.GetDirectoryName(TokenizerTestFiles.Fixture("sentencepiece_parity.json"))!, "sentencepiece", layout, "tokenizer.json"),
            Path.Combine(_dir, "tokenizer.json"));
        var tok = TokenizerLoader.Load(_dir);
        Assert.Equal(bos is not null, tok.AddsBosByDefault);
        if (bos is not null) Assert.Equal(bos, tok.Encode("Hi")[0]);
        Assert.Contains(bos is null ? "no BOS" : "post-processor template starts with it", BosChoice.Describe(tok));
    }

    [Fact]
    public void TheQwen3LayoutSplitsWithQwensExactPattern()
    {
        // The pattern Qwen2 and Qwen3 ship (single digits, case-insensitive contractions), so the 2,200 strings of
        // the qwen3 layout check that very regex against transformers.js.
        var json = Layout("qwen3");
        Assert.Equal(PreTokenizerPattern.Qwen2, (string?)json["pre_tokenizer"]!["pretokenizers"]![0]!["pattern"]!["Regex"]);
        Assert.Equal("NFC", (string?)json["normalizer"]!["type"]);
    }

    [Fact]
    public void BosChoiceSaysWhatEachLayoutDoes()
    {
        string dir = Path.Combine(Path.GetDirectoryName(TokenizerTestFiles.Fixture("sentencepiece_parity.json"))!, "sentencepiece");
        Assert.Equal("prompts start with BOS <s> (id 1): add_bos_token is true in tokenizer_config.json", BosChoice.Describe(TokenizerLoader.Load(Path.Combine(dir, "llama_legacy"))));
        Assert.Equal("prompts start with BOS <bos> (id 2): add_bos_token is true in tokenizer_config.json", BosChoice.Describe(TokenizerLoader.Load(Path.Combine(dir, "gemma"))));
        Assert.Equal("prompts get no BOS: the tokenizer has no BOS token", BosChoice.Describe(TokenizerLoader.Load(Path.Combine(dir, "qwen3"))));
    }
}
