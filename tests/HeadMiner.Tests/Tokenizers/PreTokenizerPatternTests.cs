using HeadMiner.Models.Tokenizers;

namespace HeadMiner.Tests.Tokenizers;

/// <summary>Pre-tokenizer regexes must cut text the way the reference engines (code-point based) do.</summary>
public class PreTokenizerPatternTests
{
    private static string[] Pieces(string pattern, string text) =>
        [.. new PreTokenizerPattern(pattern).Split(text).Select(p => text.Substring(p.Start, p.Length))];

    [Fact]
    public void Gpt2SplitsContractionsWordsNumbersAndSpaces()
    {
        Assert.Equal(["I", "'m", " here", "'", "S", " 12", "!!", "  ", " x", "\n\n"], Pieces(PreTokenizerPattern.Gpt2, "I'm here'S 12!!   x\n\n"));
    }

    [Fact]
    public void SupplementaryLettersAndDigitsCountAsLettersAndDigits()
    {
        // U+1D400 (𝐀) is a letter and U+1D7CF (𝟏) a digit; .NET regex alone would see surrogates (category Cs).
        Assert.Equal(["𝐀bc", " 𝟏𝟐", " 😀", "𠀀"], Pieces(PreTokenizerPattern.Gpt2, "𝐀bc 𝟏𝟐 😀𠀀"));
        // [^\r\n\p{L}\p{N}]?\p{L}+ takes a whole emoji in front of a word, never half of one.
        Assert.Equal(["😀abc", " 𝐀", "!"], Pieces(PreTokenizerPattern.Llama3, "😀abc 𝐀!"));
    }

    [Fact]
    public void LoneSurrogatesArePunctuation()
    {
        Assert.Equal(["x", "\uD800", "y", " \uDC00"], Pieces(PreTokenizerPattern.Gpt2, "x\uD800y \uDC00"));
    }

    [Fact]
    public void Llama3GroupsDigitsByThreesAndQwen2OneByOne()
    {
        Assert.Equal(["123", "45"], Pieces(PreTokenizerPattern.Llama3, "12345"));
        Assert.Equal(["1", "2", "3"], Pieces(PreTokenizerPattern.Qwen2, "123"));
        Assert.Equal(["I", "'M", " OK", "\n\n", "  ", " x"], Pieces(PreTokenizerPattern.Llama3, "I'M OK\n\n   x"));
    }

    [Fact]
    public void DollarMeansEndOfTextAndPossessiveQuantifiersWork()
    {
        Assert.Equal(@"\s+\z|[$]", PreTokenizerPattern.ToDotNet(@"\s+$|[$]"));
        // In .NET "a$" would match before the final newline; in the references it does not.
        Assert.Equal(["a\n"], Pieces("a$", "a\n"));
        Assert.Equal(@" ?(?>\p{L}+)|(?>[0-9]*)x", PreTokenizerPattern.ToDotNet(@" ?\p{L}++|[0-9]*+x"));
        Assert.Equal(["ab", " cd"], Pieces(@" ?\p{L}++|\s", "ab cd"));
    }

    [Fact]
    public void CaseInsensitiveContractionsFoldLikeTheReferences()
    {
        // Rust, Oniguruma and JS fold 'ſ' (U+017F) to 's'; .NET's (?i) does not, so the group is spelled out.
        Assert.Equal("(?:'[sS\u017F]|'[lL][lL])|x", PreTokenizerPattern.ToDotNet("(?i:'s|'ll)|x"));
        Assert.Equal(["x", "'ſ", "top"], Pieces(PreTokenizerPattern.Llama3, "x'ſtop"));
        Assert.Equal(["WE", "'LL"], Pieces(PreTokenizerPattern.Qwen2, "WE'LL"));
        // tiktoken's own cl100k spelling puts the letters in a class; the class takes the whole orbit.
        Assert.Equal("'(?:[sS\u017FdD]|[lL][lL])", PreTokenizerPattern.ToDotNet("'(?i:[sd]|ll)"));
        Assert.Equal(["x", "'ſ", "top"], Pieces("'(?i:[sdmt]|ll|ve|re)|\\p{L}+", "x'ſtop"));
        // A class holding anything but letters is left to .NET as it is.
        Assert.Equal("(?i:[^s]|x)", PreTokenizerPattern.ToDotNet("(?i:[^s]|x)"));
    }

    [Fact]
    public void HugeRunsOfSpacesSplitInLinearTime()
    {
        string spaces = new(' ', 100_000);
        foreach (string pattern in new[] { PreTokenizerPattern.Gpt2, PreTokenizerPattern.Llama3, PreTokenizerPattern.Qwen2 })
        {
            Assert.Equal([spaces], Pieces(pattern, spaces));
            Assert.Equal(2, Pieces(pattern, spaces + "x").Length);
        }
    }

    [Fact]
    public void BadPatternsAreReportedWithTheirSource()
    {
        var e = Assert.Throws<HeadMinerException>(() => new PreTokenizerPattern("(unclosed", "model/tokenizer.json"));
        Assert.Contains("model/tokenizer.json", e.Message);
        Assert.Contains("(unclosed", e.Message);
    }
}
