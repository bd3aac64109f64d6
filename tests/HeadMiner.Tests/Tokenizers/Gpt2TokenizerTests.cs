using HeadMiner.Models.Tokenizers;

namespace HeadMiner.Tests.Tokenizers;

/// <summary>The ITokenizer surface of the real GPT-2 tokenizer (vocab.json + merges.txt).</summary>
public class Gpt2TokenizerTests
{
    private static readonly Lazy<ITokenizer> Gpt2 = new(() => TokenizerLoader.Load(TokenizerTestFiles.Gpt2Directory));

    [Fact]
    public void EndOfTextIsBosAndEosButNotAddedByDefault()
    {
        var tok = Gpt2.Value;
        Assert.IsType<ByteLevelBpeTokenizer>(tok);
        Assert.Equal(50257, tok.VocabSize);
        Assert.Equal(50256, tok.BosId);
        Assert.Equal(50256, tok.EosId);
        Assert.False(tok.AddsBosByDefault);
        Assert.Equal([15496, 995], tok.Encode("Hello world"));
        Assert.Equal([50256, 15496, 995], tok.Encode("Hello world", addBos: true));
        Assert.Equal([15496, 50256, 995], tok.Encode("Hello<|endoftext|> world"));
        Assert.Equal("Hello<|endoftext|> world", tok.Decode([15496, 50256, 995]));
    }

    [Fact]
    public void TokensReadAsTheTextTheyStandFor()
    {
        var tok = Gpt2.Value;
        Assert.Equal(262, tok.TokenToId("Ġthe"));
        Assert.Equal(" the", tok.TokenToString(262));
        Assert.Equal("\n", tok.TokenToString(198));
        Assert.Equal("<|endoftext|>", tok.TokenToString(50256));
        // "’" is E2 80 99; GPT-2 has a token for the first two bytes alone (447), shown as bytes, not as U+FFFD.
        Assert.Equal("<0xE2><0x80>", tok.TokenToString(447));
        Assert.Equal(["Hello", ",", " world", "!"], tok.Tokens("Hello, world!"));
        Assert.Null(tok.TokenToId("not a token at all"));
        Assert.Throws<HeadMinerException>(() => tok.TokenToString(50257));
        Assert.Throws<HeadMinerException>(() => tok.Decode([-1]));
    }

    [Fact]
    public void CutCharactersDecodeToReplacementCharacters()
    {
        var tok = Gpt2.Value;
        int[] ids = tok.Encode("’");
        Assert.Equal([447, 247], ids);
        Assert.Equal("\uFFFD", tok.Decode(ids.AsSpan(0, 1)));
    }

    [Fact]
    public void VeryLongInputsComplete()
    {
        var tok = Gpt2.Value;
        var random = new Random(20261121);
        string[] inputs =
        [
            new(' ', 100_000),
            new('a', 100_000),
            new([.. Enumerable.Range(0, 100_000).Select(_ => (char)('a' + random.Next(26)))]),
            string.Concat(Enumerable.Repeat("word ", 20_000)),
        ];
        foreach (string text in inputs) Assert.Equal(text, tok.Decode(tok.Encode(text)));
    }

    [Fact]
    public void EncodingIsThreadSafe()
    {
        var tok = Gpt2.Value;
        string[] texts = [.. Enumerable.Range(0, 64).Select(i => $"Sentence number {i} with words like café and 中文 {i * 7919}.")];
        var expected = texts.Select(t => tok.Encode(t)).ToArray();
        Parallel.For(0, 2000, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i =>
            Assert.Equal(expected[i % texts.Length], tok.Encode(texts[i % texts.Length])));
    }
}
