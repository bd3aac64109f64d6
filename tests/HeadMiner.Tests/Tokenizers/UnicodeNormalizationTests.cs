using HeadMiner.Models.Tokenizers;

namespace HeadMiner.Tests.Tokenizers;

/// <summary>
/// HeadMiner's own NFC/NFKC (the product builds with InvariantGlobalization, where string.Normalize leaves non-ASCII
/// text unchanged). Expected values are the Unicode standard's (UAX #15 examples and the code charts); the Qwen3
/// layout of sentencepiece_parity.json checks the same code against transformers.js (ICU) on 2,200 strings.
/// </summary>
public class UnicodeNormalizationTests
{
    [Theory]
    [InlineData("e\u0301", "\u00E9")] // combining acute composes
    [InlineData("\u00E9", "\u00E9")]
    [InlineData("A\u030A", "\u00C5")]
    [InlineData("\u212B", "\u00C5")] // ANGSTROM SIGN: singleton decomposition
    [InlineData("\u037E", ";")] // GREEK QUESTION MARK: singleton
    [InlineData("\u2001", "\u2003")] // EM QUAD -> EM SPACE: singleton
    [InlineData("q\u0307\u0323", "q\u0323\u0307")] // canonical ordering, no composite
    [InlineData("s\u0323\u0307", "\u1E69")] // ordered, then both compose
    [InlineData("s\u0307\u0323", "\u1E69")]
    [InlineData("\u1100\u1161\u11A8", "\uAC01")] // Hangul L V T
    [InlineData("\uAC00\u11A8", "\uAC01")] // Hangul LV + T
    [InlineData("\u0958", "\u0915\u093C")] // composition exclusion stays decomposed
    [InlineData("a\u0301\u0301", "\u00E1\u0301")] // the second acute is blocked by nothing but has no composite
    [InlineData("\uFB01", "\uFB01")] // compatibility ligature: NFC keeps it
    [InlineData("\U0001D400\u0301", "\U0001D400\u0301")] // supplementary letter, no decomposition in NFC
    [InlineData("\uD800x", "\uD800x")] // a lone surrogate passes through
    [InlineData("plain ASCII", "plain ASCII")]
    public void NfcIsTheStandardsNfc(string text, string expected) => Assert.Equal(expected, UnicodeNormalization.Nfc(text));

    [Theory]
    [InlineData("\uFB01", "fi")]
    [InlineData("\u2460", "1")]
    [InlineData("\u00A0", " ")]
    [InlineData("\u00BE", "3\u20444")]
    [InlineData("\U0001D400", "A")]
    [InlineData("\u1E9B\u0323", "\u1E69")] // UAX #15's example: long s with dot above and dot below
    [InlineData("\uFF76\uFF9E", "\u30AC")] // halfwidth katakana KA + voiced mark compose
    public void NfkcIsTheStandardsNfkc(string text, string expected) => Assert.Equal(expected, UnicodeNormalization.Nfkc(text));

    [Fact]
    public void TheTablesAreLoadedAndVersioned() => Assert.Matches(@"^\d+\.\d+\.\d+$", UnicodeNormalization.UnicodeVersion);
}
