using System.Text;
using System.Text.RegularExpressions;
using HeadMiner.Analysis.Detectors;
using HeadMiner.Models.Tokenizers;
using HeadMiner.Tasks.Synthetic;
using Microsoft.ML.Tokenizers;

namespace HeadMiner.Tests.Tokenizers;

/// <summary>
/// WordPiece (a word-level vocabulary with "##" continuation pieces, the toy English's) against an independent
/// implementation: Microsoft.ML.Tokenizers' WordPieceTokenizer, which follows Hugging Face's model, fed the same
/// vocabulary and the same pre-tokens.
/// </summary>
public class WordPieceTokenizerTests
{
    private static readonly Lazy<ToyEnglish> English = new(() => new ToyEnglish());

    /// <summary>The reference on the toy English's vocabulary (one token per line, the line number its id), "[UNK]" appended.</summary>
    private static WordPieceTokenizer Reference(IReadOnlyList<string> vocabulary, int maxChars = 100)
    {
        var lines = new StringBuilder();
        foreach (string token in vocabulary) lines.Append(token).Append('\n');
        lines.Append("[UNK]\n");
        using var stream = new MemoryStream(Encoding.UTF8.GetBytes(lines.ToString()));
        return WordPieceTokenizer.Create(stream, new WordPieceOptions
        {
            // Each call gets one of our pre-tokens; \S+ keeps it whole (the default would cut "salt-stained" at "-").
            PreTokenizer = new RegexPreTokenizer(new Regex(@"\S+"), null),
            UnknownToken = "[UNK]",
            ContinuingSubwordPrefix = "##",
            MaxInputCharsPerWord = maxChars,
        });
    }

    /// <summary>Every word our pre-tokenization gives, encoded by the reference one word at a time.</summary>
    private static int[] ReferenceIds(WordPieceTokenizer reference, WordLevelTokenizer ours, string text)
    {
        var ids = new List<int>();
        foreach (string word in text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))
        {
            var pieces = ours.Isolate is null ? [(0, word.Length)] : ours.Isolate.Split(word).ToArray();
            foreach (var (start, length) in pieces) ids.AddRange(reference.EncodeToIds(word.Substring(start, length)));
        }
        return [.. ids];
    }

    [Fact]
    public void TheToyEnglishSpellsEveryTaskPromptFillerAndSampleTextAsTheReferenceDoes()
    {
        var english = English.Value;
        var ours = english.Tokenizer;
        var reference = Reference(english.Vocabulary);
        var texts = new List<string>(SampleText.Passages);
        texts.AddRange(HeadMiner.Tasks.Sets.NeedleInHaystackSet.Filler);
        foreach (var (name, _) in ToyEnglish.Tasks)
        {
            var set = ToyEnglish.Generator(name).Generate(ours, new HeadMiner.Tasks.Sets.TaskSetOptions { Count = 5, Seed = 11, ContextLength = 128 });
            texts.AddRange(set.Pairs.Select(p => p.Clean));
        }
        int pieces = 0;
        foreach (string text in texts)
        {
            var ids = ours.Encode(text, addBos: false);
            Assert.Equal(ReferenceIds(reference, ours, text), ids);
            pieces += ids.Count(ours.ContinuesWord);
            // The decoder glues the pieces back: the canonical text (one space between pre-tokens) comes back.
            Assert.Equal(Canonical(ours, text), ours.Decode(ids));
        }
        Assert.True(pieces > 60, $"only {pieces} continuation pieces in the filler, the sample text and the prompts");
        Assert.Equal(["The", "small", "boat", "drift", "##ed", "slow", "##ly", "along", "the", "edge", "of", "the", "harb", "##our", "."],
            ours.Tokens("The small boat drifted slowly along the edge of the harbour."));
        Assert.Equal(["kitti", "##wake", "##s"], ours.Tokens("kittiwakes"));
    }

    /// <summary>Words made of random pieces: longest match first is not always the split they were made from.</summary>
    [Fact]
    public void RandomWordsOfPiecesSplitAsTheReferenceSplitsThem()
    {
        var english = English.Value;
        var ours = english.Tokenizer;
        var reference = Reference(english.Vocabulary, maxChars: 23);
        var starts = english.Vocabulary.Where(w => !w.StartsWith("##", StringComparison.Ordinal) && w.All(char.IsLetter)).ToArray();
        var continuations = english.Vocabulary.Where(w => w.StartsWith("##", StringComparison.Ordinal)).Select(w => w[2..]).ToArray();
        var strict = new WordLevelTokenizer(Vocab(english.Vocabulary), new Dictionary<string, int>(), null, null, false)
        {
            ContinuingSubwordPrefix = "##",
            MaxInputCharsPerWord = 23,
        };
        var random = new Random(29);
        int spelled = 0, refused = 0;
        for (int n = 0; n < 3001; n++)
        {
            var word = new StringBuilder(starts[random.Next(starts.Length)]);
            int extra = random.Next(4);
            for (int k = 0; k < extra; k++)
                word.Append(random.Next(5) == 0 ? "q" : continuations[random.Next(continuations.Length)]);
            var expected = reference.EncodeToIds(word.ToString());
            if (expected.Contains(english.Vocabulary.Count))
            {
                // The reference gives [UNK] for the whole word; we refuse it, naming it and why.
                var e = Assert.Throws<HeadMinerException>(() => strict.Encode(word.ToString()));
                Assert.Contains($"\"{word}\" at character 0", e.Message);
                Assert.Single(expected);
                refused++;
                continue;
            }
            Assert.Equal(expected, strict.Encode(word.ToString()));
            spelled++;
        }
        Assert.True(spelled > 1000 && refused > 300, $"{spelled} spelled, {refused} refused: the draw should exercise both");
    }

    private static Dictionary<string, int> Vocab(IReadOnlyList<string> words) =>
        words.Select((w, i) => (w, i)).ToDictionary(x => x.w, x => x.i, StringComparer.Ordinal);

    /// <summary>Our pre-tokens joined by one space: what a word-level vocabulary's round trip gives back.</summary>
    private static string Canonical(WordLevelTokenizer ours, string text) =>
        string.Join(' ', text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)
            .SelectMany(w => ours.Isolate!.Split(w).Select(p => w.Substring(p.Start, p.Length))));

    [Fact]
    public void AnUnknownTokenInTheVocabularyStandsForAWordThatNoPiecesSpell()
    {
        var vocab = new Dictionary<string, int> { ["[UNK]"] = 0, ["play"] = 1, ["##ing"] = 2, ["##ed"] = 3, ["the"] = 4 };
        var t = new WordLevelTokenizer(vocab, new Dictionary<string, int>(), null, null, false, unknownToken: "[UNK]") { ContinuingSubwordPrefix = "##", MaxInputCharsPerWord = 8, DecodesContinuations = true };
        Assert.Equal(new[] { 4, 1, 2, 0, 0 }, t.Encode("the playing playz playingplayed"));
        // The length limit comes first, even for a word the vocabulary has whole (as in Hugging Face).
        var limited = new WordLevelTokenizer(vocab, new Dictionary<string, int>(), null, null, false, unknownToken: "[UNK]") { ContinuingSubwordPrefix = "##", MaxInputCharsPerWord = 3 };
        Assert.Equal(new[] { 4, 0 }, limited.Encode("the play"));
        Assert.Equal("the playing [UNK]", t.Decode([4, 1, 2, 0]));
        // A continuation first keeps its prefix (Hugging Face's decoder does the same).
        Assert.Equal("##ing play", t.Decode([2, 1]));
        Assert.True(t.ContinuesWord(2));
        Assert.False(t.ContinuesWord(1));
    }

    [Fact]
    public void TheToyEnglishTokenizerJsonIsAWordPieceModelThatLoadsAsTheInMemoryOne()
    {
        var english = English.Value;
        using var dir = TestPaths.NewTempDirectory();
        string path = dir.File("tokenizer.json");
        string json = english.TokenizerJson();
        File.WriteAllText(path, json);
        var loaded = Assert.IsType<WordLevelTokenizer>(HuggingFaceTokenizerJson.Load(path));
        Assert.Equal("##", loaded.ContinuingSubwordPrefix);
        Assert.True(loaded.DecodesContinuations);
        foreach (string passage in SampleText.Passages)
        {
            Assert.Equal(english.Tokenizer.Encode(passage), loaded.Encode(passage));
            Assert.Equal(english.Tokenizer.Decode(english.Tokenizer.Encode(passage)), loaded.Decode(loaded.Encode(passage)));
        }

        // What a WordPiece file may not say, each refused with its place in the file.
        foreach (var (from, to, message) in new[]
        {
            ("\"cleanup\": false", "\"cleanup\": true", "decoder.cleanup is true"),
            ("\"prefix\": \"##\"", "\"prefix\": \"@@\"", "differs from model.continuing_subword_prefix"),
            ("\"continuing_subword_prefix\": \"##\"", "\"continuing_subword_prefix\": \"\"", "continuing_subword_prefix is empty"),
            ("\"max_input_chars_per_word\": 100", "\"max_input_chars_per_word\": 0", "max_input_chars_per_word = 0"),
        })
        {
            Assert.Contains(from, json);
            File.WriteAllText(path, json.Replace(from, to, StringComparison.Ordinal));
            var e = Assert.Throws<HeadMinerException>(() => HuggingFaceTokenizerJson.Load(path));
            Assert.Contains(message, e.Message);
            Assert.Contains(path, e.Message);
        }
        File.WriteAllText(path, json.Replace("\"type\": \"WordPiece\",\n    \"prefix\"", "\"type\": \"Metaspace\",\n    \"prefix\"", StringComparison.Ordinal));
        Assert.Contains("decoder Metaspace on a WordPiece model is not supported", Assert.Throws<HeadMinerException>(() => HuggingFaceTokenizerJson.Load(path)).Message);

        // Without a decoder, Hugging Face joins every token with a space, "##" and all; so do we.
        var node = System.Text.Json.Nodes.JsonNode.Parse(json)!.AsObject();
        node["decoder"] = null;
        File.WriteAllText(path, node.ToJsonString());
        var plain = Assert.IsType<WordLevelTokenizer>(HuggingFaceTokenizerJson.Load(path));
        Assert.Equal("the harb ##our", plain.Decode(plain.Encode("the harbour", addBos: false)));
    }
}
