using System.Text.Json;
using HeadMiner.Models.Tokenizers;

namespace HeadMiner.Tests.Tokenizers;

/// <summary>
/// cl100k_base and o200k_base — the kind of encoding Llama 3's and Qwen's byte-level tokenizer.json files hold — converted
/// to a Hugging Face byte-level BPE tokenizer.json (<see cref="TiktokenToHuggingFace"/>) and loaded by HeadMiner must give tiktoken's ids (Microsoft.ML.Tokenizers
/// is the reference) on the 3,000+ strings of tests/fixtures/tokenizers/tiktoken_parity.json, made by tools/fixtures/tiktoken.
/// <para>
/// Microsoft.ML.Tokenizers runs the split regex with .NET's UTF-16 semantics, where tiktoken (Rust) and Hugging Face
/// (Oniguruma) work on code points: a supplementary-plane code point is two surrogates (so "😀abc" is cut "😀" + "abc",
/// not "😀abc"), and (?i) does not fold 'ſ' to 's'. HeadMiner follows the code-point engines (checked against one in
/// <see cref="PreTokenizerParityTests"/>). So where the reference's pre-tokenizer cuts a string as HeadMiner does, the
/// expected ids are the reference's as they are; where it does not, they are the reference's BPE alone (the same ranks,
/// no pre-tokenizer) over HeadMiner's pieces, and those strings must all hold a surrogate pair or 'ſ'.
/// </para>
/// </summary>
public class TiktokenParityTests(TiktokenEncodings encodings) : IClassFixture<TiktokenEncodings>
{
    public static TheoryData<string> Encodings => new(TiktokenEncodings.Names);

    [Theory]
    [MemberData(nameof(Encodings))]
    public void CommittedIdsAreTheReferencesIds(string encoding)
    {
        Assert.True(encodings.Cases.Count >= 3000, $"corpus has only {encodings.Cases.Count} strings");
        var stale = encodings.Cases.Where(c => !encodings.Reference[encoding].EncodeToIds(c.Text).SequenceEqual(c.Ids[encoding])).ToList();
        Assert.True(stale.Count == 0, $"{stale.Count} committed cases differ from Microsoft.ML.Tokenizers; regenerate the fixture "
            + $"(docs/TOKENIZERS.md). First: {Show(stale.FirstOrDefault()?.Text ?? "")}");
    }

    [Theory]
    [MemberData(nameof(Encodings))]
    public void EveryStringCutAsTheReferenceCutsItEncodesToItsIds(string encoding)
    {
        var cases = encodings.Cases.Where(c => encodings.SameCut(encoding, c.Text)).ToList();
        Assert.True(cases.Count >= 2400, $"only {cases.Count} strings are cut alike");
        AssertEncodes(encoding, cases.Select(c => (c.Text, c.Ids[encoding])));
    }

    [Theory]
    [MemberData(nameof(Encodings))]
    public void EveryOtherStringEncodesToTheReferencesBpeOverCodePointPieces(string encoding)
    {
        var cases = encodings.Cases.Where(c => !encodings.SameCut(encoding, c.Text)).ToList();
        var bpe = encodings.BpeOnly[encoding];
        AssertEncodes(encoding, cases.Select(c => (c.Text, encodings.OurCut(encoding, c.Text)
            .SelectMany(p => p.SpecialId >= 0 ? [p.SpecialId] : bpe.EncodeToIds(c.Text.Substring(p.Start, p.Length))).ToArray())));
    }

    // Pins the reason for the two groups above: the cuts differ only on strings with a surrogate pair or 'ſ' (where
    // .NET's regex sees UTF-16 units or does not case-fold), and there the ids do differ. If Microsoft.ML.Tokenizers
    // ever cuts by code points, this fails and the second group can go.
    [Theory]
    [MemberData(nameof(Encodings))]
    public void CutsDifferOnlyWhereTheReferenceSeesUtf16Units(string encoding)
    {
        var differ = encodings.Cases.Where(c => !encodings.SameCut(encoding, c.Text)).ToList();
        var unexplained = differ.Where(c => !c.Text.Any(ch => char.IsSurrogate(ch) || ch == 'ſ')).ToList();
        Assert.True(unexplained.Count == 0, $"{unexplained.Count} strings are cut differently without a surrogate pair or 'ſ'; "
            + $"first: {Show(unexplained.FirstOrDefault()?.Text ?? "")}");
        Assert.Contains(differ, c => !encodings.Ours[encoding].Encode(c.Text, addBos: false).SequenceEqual(c.Ids[encoding]));
    }

    [Theory]
    [MemberData(nameof(Encodings))]
    public void EveryStringDecodesBackToItself(string encoding)
    {
        var differ = encodings.Cases.Where(c => encodings.Ours[encoding].Decode(c.Ids[encoding]) != c.Text).ToList();
        Assert.True(differ.Count == 0, $"{differ.Count} strings do not round-trip; first: {Show(differ.FirstOrDefault()?.Text ?? "")}");
    }

    private void AssertEncodes(string encoding, IEnumerable<(string Text, int[] Expected)> cases)
    {
        var tokenizer = encodings.Ours[encoding];
        var mismatches = new List<string>();
        int count = 0;
        foreach (var (text, expected) in cases)
        {
            count++;
            int[] actual = tokenizer.Encode(text, addBos: false);
            if (!actual.AsSpan().SequenceEqual(expected))
            {
                mismatches.Add($"{Show(text)}: expected [{string.Join(',', expected.Take(20))}] got [{string.Join(',', actual.Take(20))}]");
            }
        }
        Assert.True(mismatches.Count == 0, $"{encoding}: {mismatches.Count} of {count} strings differ:\n{string.Join('\n', mismatches.Take(20))}");
    }

    private static string Show(string text) => JsonSerializer.Serialize(text[..Math.Min(text.Length, 80)]);
}
