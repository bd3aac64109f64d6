using HeadMiner.Models.Tokenizers;
using HeadMiner.Tasks.Synthetic;

namespace HeadMiner.Tests.Tokenizers;

public class WordLevelTokenizerTests
{
    private static readonly ToyVocabulary Vocabulary = new();

    private static ITokenizer LoadToyJson(out string path, TestPaths.TempDirectory dir)
    {
        path = dir.File("tokenizer.json");
        File.WriteAllText(path, ToyTokenizer.Json(Vocabulary));
        return HuggingFaceTokenizerJson.Load(path);
    }

    [Fact]
    public void TheToyTokenizerJsonLoadsAsTheInMemoryTokenizerAndCoversEveryId()
    {
        using var dir = TestPaths.NewTempDirectory();
        var loaded = LoadToyJson(out _, dir);
        var direct = ToyTokenizer.Create(Vocabulary);
        Assert.Equal(Vocabulary.Size, loaded.VocabSize);
        Assert.Equal(ToyVocabulary.Bos, loaded.BosId);
        Assert.Equal(ToyVocabulary.Eos, loaded.EosId);
        Assert.True(loaded.AddsBosByDefault);
        for (int id = 0; id < Vocabulary.Size; id++)
        {
            Assert.Equal(Vocabulary.TokenToString(id), loaded.TokenToString(id));
            Assert.Equal(id, loaded.TokenToId(Vocabulary.TokenToString(id)));
            Assert.Equal(direct.TokenToString(id), loaded.TokenToString(id));
        }
    }

    [Fact]
    public void GeneratedSequencesRoundTripThroughText()
    {
        var tokenizer = ToyTokenizer.Create(Vocabulary);
        var set = new ToyLanguage().Generate(5, 61, seed: 3);
        foreach (var ids in set.Tokens)
        {
            string text = Vocabulary.Render(ids);
            Assert.Equal(text, tokenizer.Decode(ids));
            Assert.Equal(ids, tokenizer.Encode(text, addBos: false)); // the sequence already starts with <bos>
        }
    }

    [Fact]
    public void SpecialTokensAreMatchedInsideTextAndBosIsPrepended()
    {
        var tokenizer = ToyTokenizer.Create(Vocabulary);
        int w3 = Vocabulary.FirstWord + 3, w17 = Vocabulary.FirstWord + 17;
        Assert.Equal(new[] { ToyVocabulary.Bos, w3, ToyVocabulary.Separator, w17 }, tokenizer.Encode("w3<sep>  w17\n"));
        Assert.Equal(new[] { w3 }, tokenizer.Encode(" w3 ", addBos: false));
        Assert.Empty(tokenizer.Encode("   ", addBos: false));
    }

    [Fact]
    public void AnUnknownWordIsAnErrorNamingIt()
    {
        var tokenizer = ToyTokenizer.Create(Vocabulary);
        var e = Assert.Throws<HeadMinerException>(() => tokenizer.Encode("w3 cat w4"));
        Assert.Contains("\"cat\" at character 3", e.Message);
        Assert.Throws<HeadMinerException>(() => tokenizer.TokenToString(Vocabulary.Size));
    }

    [Fact]
    public void AWordLevelFileWithAnUnsupportedPreTokenizerIsRefused()
    {
        using var dir = TestPaths.NewTempDirectory();
        string path = dir.File("tokenizer.json");
        File.WriteAllText(path, ToyTokenizer.Json(Vocabulary).Replace("\"WhitespaceSplit\"", "\"Whitespace\"", StringComparison.Ordinal));
        var e = Assert.Throws<HeadMinerException>(() => HuggingFaceTokenizerJson.Load(path));
        Assert.Contains("pre-tokenizer Whitespace", e.Message);
        Assert.Contains(path, e.Message);
    }
}
