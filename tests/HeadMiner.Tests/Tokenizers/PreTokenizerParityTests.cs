using System.Text.Json;
using HeadMiner.Models.Tokenizers;

namespace HeadMiner.Tests.Tokenizers;

/// <summary>
/// Llama 3, Qwen2, cl100k_base and o200k_base pre-tokenizer patterns must cut the 2,000+ string corpus exactly as a
/// code-point regex engine does (JavaScript with the u flag). Fixture: tests/fixtures/tokenizers/pretokenizer_parity.json,
/// made by tools/fixtures/tokenizers/make_pretokenizer_parity.mjs.
/// </summary>
public class PreTokenizerParityTests
{
    [Fact]
    public void EveryPatternCutsEveryCorpusStringLikeTheReferenceEngine()
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(TokenizerTestFiles.Fixture("pretokenizer_parity.json")));
        var patterns = doc.RootElement.GetProperty("patterns").EnumerateObject()
            .ToDictionary(p => p.Name, p => new PreTokenizerPattern(p.Value.GetString()!));
        Assert.Equal(PreTokenizerPattern.Llama3, patterns["llama3"].Pattern);
        Assert.Equal(PreTokenizerPattern.Qwen2, patterns["qwen2"].Pattern);
        Assert.Equal(4, patterns.Count);

        var mismatches = new List<string>();
        int cases = 0;
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            cases++;
            string text = c.TryGetProperty("text", out var t)
                ? t.GetString()!
                : new string([.. c.GetProperty("utf16").EnumerateArray().Select(u => (char)u.GetInt32())]);
            foreach (var (name, pattern) in patterns)
            {
                int[] expected = [.. c.GetProperty(name).EnumerateArray().Select(x => x.GetInt32())];
                int[] actual = [.. pattern.Split(text).Select(p => p.Length)];
                if (!expected.AsSpan().SequenceEqual(actual))
                {
                    mismatches.Add($"{name} {JsonSerializer.Serialize(text[..Math.Min(60, text.Length)])}: expected [{string.Join(',', expected.Take(16))}] got [{string.Join(',', actual.Take(16))}]");
                }
            }
        }
        Assert.True(cases >= 2000, $"only {cases} strings");
        Assert.True(mismatches.Count == 0, $"{mismatches.Count} cuts differ:\n{string.Join('\n', mismatches.Take(20))}");
    }
}
