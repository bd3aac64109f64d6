using System.Text.Json;
using HeadMiner.Models.Tokenizers;

namespace HeadMiner.Tests.Tokenizers;

/// <summary>
/// The tokenizer.json layouts Llama 2 / Phi-3 / Mistral (legacy Prepend + Replace normalizer), newer Llama-style files
/// (Metaspace "first", "always" with split, "never"), Gemma (Replace only, with and without its Split pre-tokenizer)
/// and Qwen2/Qwen3 (byte-level BPE with Qwen's split regex) ship, each loaded by <see cref="TokenizerLoader"/> from a
/// committed model folder, must give the reference ids on the 2,200 strings of
/// tests/fixtures/tokenizers/sentencepiece_parity.json. Two independent references made the fixture
/// (tools/fixtures/sentencepiece/README.md): sentencepiece 0.1.97 itself, on the tiny models the SentencePiece-style
/// files were converted from, and transformers.js 4.3.2 reading the tokenizer.json files; they agree on every string
/// of every SentencePiece layout, which a test here pins.
/// </summary>
public class SentencePieceParityTests
{
    private static readonly Lazy<Fixture> Data = new(Fixture.Load);

    public static TheoryData<string> Layouts => new(Fixture.LayoutNames);

    [Fact]
    public void TheFixtureHoldsEveryLayoutAndEnoughStrings()
    {
        Assert.True(Data.Value.Strings.Count >= 2000, $"only {Data.Value.Strings.Count} strings");
        Assert.Equal(Fixture.LayoutNames.Order(), Data.Value.Layouts.Keys.Order());
    }

    // The two references agree: sentencepiece (the model's own tokenizer) and transformers.js (the tokenizer.json's
    // semantics) gave the same ids for every string, so matching one is matching both.
    [Theory]
    [MemberData(nameof(Layouts))]
    public void SentencePieceAndTransformersJsAgreedOnEveryString(string layout)
    {
        var l = Data.Value.Layouts[layout];
        if (layout == "qwen3")
        {
            Assert.Null(l.SentencePieceAgrees); // byte-level BPE: transformers.js is the only reference
            return;
        }
        Assert.Equal(Data.Value.Strings.Count, l.SentencePieceAgrees);
        Assert.Equal(0, l.SentencePieceDiffers);
    }

    [Theory]
    [MemberData(nameof(Layouts))]
    public void EveryStringEncodesToTheReferenceIds(string layout)
    {
        var tokenizer = Load(layout);
        var l = Data.Value.Layouts[layout];
        var mismatches = new List<string>();
        for (int i = 0; i < Data.Value.Strings.Count; i++)
        {
            string text = Data.Value.Strings[i];
            int[] actual = tokenizer.Encode(text, addBos: false);
            if (!actual.AsSpan().SequenceEqual(l.Ids[i]))
            {
                mismatches.Add($"{Show(text)}: expected [{string.Join(',', l.Ids[i].Take(24))}] got [{string.Join(',', actual.Take(24))}]");
            }
        }
        Assert.True(mismatches.Count == 0,
            $"{layout}: {mismatches.Count} of {Data.Value.Strings.Count} strings differ:\n{string.Join('\n', mismatches.Take(20))}");
    }

    // Decoding the reference ids gives what transformers.js's decode gives (special tokens skipped for SentencePiece
    // layouts, rendered for byte-level): the string itself wherever the reference round-trips.
    [Theory]
    [MemberData(nameof(Layouts))]
    public void EveryStringDecodesAsTheReferenceDecodes(string layout)
    {
        var tokenizer = Load(layout);
        var l = Data.Value.Layouts[layout];
        var mismatches = new List<string>();
        int roundTrips = 0;
        for (int i = 0; i < Data.Value.Strings.Count; i++)
        {
            string expected = l.DecodedDifferently.TryGetValue(i, out string? other) ? other : Data.Value.Strings[i];
            if (expected == Data.Value.Strings[i]) roundTrips++;
            string actual = tokenizer.Decode(l.Ids[i]);
            if (actual != expected) mismatches.Add($"{Show(Data.Value.Strings[i])}: expected {Show(expected)} got {Show(actual)}");
        }
        Assert.True(mismatches.Count == 0, $"{layout}: {mismatches.Count} of {Data.Value.Strings.Count} decode differently:\n{string.Join('\n', mismatches.Take(20))}");
        Assert.True(roundTrips >= Data.Value.Strings.Count * 8 / 10, $"{layout}: only {roundTrips} strings round-trip");
    }

    // BOS as transformers.js adds it with add_special_tokens (tokenizer_config.json's add_bos_token and the
    // post-processor): Llama-style files and Gemma prepend their BOS, Qwen none.
    [Theory]
    [MemberData(nameof(Layouts))]
    public void BosIsAddedExactlyAsTheReferenceAddsIt(string layout)
    {
        var tokenizer = Load(layout);
        int? bos = Data.Value.Layouts[layout].BosAdded;
        Assert.Equal(bos is not null, tokenizer.AddsBosByDefault);
        if (bos is int id)
        {
            Assert.Equal(id, tokenizer.BosId);
            Assert.Equal(id, tokenizer.Encode("Hello")[0]);
            Assert.Equal(tokenizer.Encode("Hello", addBos: false), tokenizer.Encode("Hello")[1..]);
        }
        else
        {
            Assert.Equal(tokenizer.Encode("Hello", addBos: false), tokenizer.Encode("Hello"));
        }
        Assert.Equal(layout switch { "qwen3" => null, var g when g.StartsWith("gemma", StringComparison.Ordinal) => 2, _ => 1 }, bos);
    }

    [Fact]
    public void EachLayoutLoadsAsTheKindOfTokenizerItIs()
    {
        foreach (string layout in Fixture.LayoutNames)
        {
            var tokenizer = Load(layout);
            if (layout == "qwen3") Assert.IsType<ByteLevelBpeTokenizer>(tokenizer);
            else Assert.IsType<SentencePieceBpeTokenizer>(tokenizer);
        }
    }

    private static ITokenizer Load(string layout) => TokenizerLoader.Load(Path.Combine(Path.GetDirectoryName(TokenizerTestFiles.Fixture("sentencepiece_parity.json"))!, "sentencepiece", layout));

    private static string Show(string text) => JsonSerializer.Serialize(text[..Math.Min(text.Length, 80)]);

    private sealed record Layout(int? BosAdded, int? SentencePieceAgrees, int SentencePieceDiffers, Dictionary<int, string> DecodedDifferently, List<int[]> Ids);

    private sealed record Fixture(List<string> Strings, Dictionary<string, Layout> Layouts)
    {
        public static readonly string[] LayoutNames =
            ["llama_legacy", "llama_metaspace_first", "llama_metaspace_always_split", "llama_metaspace_never", "gemma", "gemma_no_pre_tokenizer", "qwen3"];

        public static Fixture Load()
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(TokenizerTestFiles.Fixture("sentencepiece_parity.json")));
            var strings = doc.RootElement.GetProperty("strings").EnumerateArray().Select(s => s.GetString()!).ToList();
            var layouts = new Dictionary<string, Layout>();
            foreach (var p in doc.RootElement.GetProperty("layouts").EnumerateObject())
            {
                var l = p.Value;
                int? Nullable(string name) => l.GetProperty(name).ValueKind == JsonValueKind.Null ? null : l.GetProperty(name).GetInt32();
                var differs = l.GetProperty("sentencepiece_differs");
                layouts[p.Name] = new Layout(
                    Nullable("bos_added"),
                    Nullable("sentencepiece_agrees"),
                    differs.ValueKind == JsonValueKind.Array ? differs.GetArrayLength() : 0,
                    l.GetProperty("decoded_differently").EnumerateObject().ToDictionary(d => int.Parse(d.Name, System.Globalization.CultureInfo.InvariantCulture), d => d.Value.GetString()!),
                    [.. l.GetProperty("ids").EnumerateArray().Select(ids => ids.EnumerateArray().Select(i => i.GetInt32()).ToArray())]);
                Assert.Equal(strings.Count, layouts[p.Name].Ids.Count);
            }
            return new Fixture(strings, layouts);
        }
    }
}
