using System.Text.Json;
using HeadMiner.Models.Tokenizers;

namespace HeadMiner.Tests.Tokenizers;

/// <summary>
/// GPT-2 ids must equal those of an independent implementation (npm gpt-tokenizer, r50k_base) on a 2,000+ string
/// corpus of prose, code, numbers, whitespace runs, contractions, accented/CJK/mixed scripts, emoji (ZWJ), lone
/// surrogates and very long words. Fixture: tests/fixtures/tokenizers/gpt2_parity.json, made by
/// tools/fixtures/tokenizers/make_gpt2_parity.mjs.
/// </summary>
public class Gpt2ParityTests
{
    private static readonly Lazy<ByteLevelBpeTokenizer> Gpt2 = new(() => ByteLevelBpeTokenizer.FromVocabAndMerges(
        TokenizerTestFiles.SharedFile("gpt2-small-attention-only", "vocab.json"),
        TokenizerTestFiles.SharedFile("gpt2-small-attention-only", "merges.txt")));

    private static List<(string Text, int[] Ids)> LoadCases()
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(TokenizerTestFiles.Fixture("gpt2_parity.json")));
        var cases = new List<(string, int[])>();
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            string text = c.TryGetProperty("text", out var t)
                ? t.GetString()!
                : new string(c.GetProperty("utf16").EnumerateArray().Select(u => (char)u.GetInt32()).ToArray());
            cases.Add((text, c.GetProperty("ids").EnumerateArray().Select(i => i.GetInt32()).ToArray()));
        }
        return cases;
    }

    [Fact]
    public void EveryCorpusStringEncodesToTheReferenceIds()
    {
        var cases = LoadCases();
        Assert.True(cases.Count >= 2000, $"corpus has only {cases.Count} strings");
        var mismatches = new List<string>();
        foreach (var (text, expected) in cases)
        {
            int[] actual = Gpt2.Value.Encode(text);
            if (!actual.AsSpan().SequenceEqual(expected))
            {
                mismatches.Add($"{JsonSerializer.Serialize(text[..Math.Min(text.Length, 80)])}: expected [{string.Join(',', expected.Take(20))}] got [{string.Join(',', actual.Take(20))}]");
            }
        }
        Assert.True(mismatches.Count == 0, $"{mismatches.Count} of {cases.Count} strings differ:\n{string.Join('\n', mismatches.Take(20))}");
    }

    [Fact]
    public void EveryCorpusStringRoundTrips()
    {
        int illFormed = 0;
        foreach (var (text, ids) in LoadCases())
        {
            // Lone surrogates are encoded as U+FFFD by both implementations, so they come back as U+FFFD.
            string expected = ReplaceLoneSurrogates(text);
            if (expected != text) illFormed++;
            Assert.Equal(expected, Gpt2.Value.Decode(ids));
        }
        Assert.True(illFormed > 50, $"corpus has only {illFormed} ill-formed strings");
    }

    private static string ReplaceLoneSurrogates(string text)
    {
        var chars = text.ToCharArray();
        for (int i = 0; i < chars.Length; i++)
        {
            if (char.IsHighSurrogate(chars[i]) && i + 1 < chars.Length && char.IsLowSurrogate(chars[i + 1])) i++;
            else if (char.IsSurrogate(chars[i])) chars[i] = '\uFFFD';
        }
        return new string(chars);
    }
}
