using System.Buffers.Binary;
using System.Text;
using HeadMiner.Models.Tokenizers;

namespace HeadMiner.Tests.Tokenizers;

/// <summary>The llama2.c tokenizer (stories260K's tok512.bin) against run.c's encode/decode rules.</summary>
public class Llama2cTokenizerTests
{
    // The 200-token greedy continuation of stories260K, byte-identical to llama2.c's test_all.py (see SOURCE.md).
    private const string ReferenceText =
        "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high.\n" +
        "Lily's mom said, \"Lily, let's go to the park.\" Lily was sad and didn't know what to do. She said, \"I want to play with your ball, but I can't find it.\"\n" +
        "Lily was sad and didn't know what to do. She said, \"I'm sorry, Lily. I didn't know what to do.\"\n" +
        "Lily didn't want to help her mom, so she";

    private static readonly Lazy<SentencePieceBpeTokenizer> Tok512 = new(() =>
        SentencePieceBpeTokenizer.FromLlama2cFile(TokenizerTestFiles.SharedFile("stories260K", "tok512.bin")));

    [Fact]
    public void Tok512LoadsWithRunCsSpecialIds()
    {
        var tok = Tok512.Value;
        Assert.Equal(512, tok.VocabSize);
        Assert.Equal(1, tok.BosId);
        Assert.Equal(2, tok.EosId);
        Assert.True(tok.AddsBosByDefault);
        Assert.Equal(-1f, tok.Score(260)); // "he"
        Assert.Equal(260, tok.TokenToId("he"));
        Assert.Equal(410, tok.TokenToId(" "));
        Assert.Null(tok.TokenToId("no such piece"));
    }

    [Fact]
    public void ReferenceTextRoundTripsByteIdentically()
    {
        var tok = Tok512.Value;
        int[] ids = tok.Encode(ReferenceText);
        Assert.Equal(1, ids[0]);
        Assert.Equal(ReferenceText, tok.Decode(ids));
        Assert.Equal(ReferenceText, tok.Decode(tok.Encode(ReferenceText, addBos: false)));
        Assert.Equal(RunCEncode(ReferenceText, bos: true), ids);
    }

    // Expected ids computed from tok512.bin by a separate Python port of run.c's encode (not by this code).
    [Theory]
    [InlineData("Once upon a time", new[] { 1, 403, 407, 261, 378 })]
    [InlineData("Hello world", new[] { 1, 346, 306, 414, 263, 304, 341 })]
    [InlineData("  two spaces", new[] { 1, 410, 410, 259, 424, 414, 262, 427, 412, 331, 419 })]
    [InlineData("café 😀", new[] { 1, 280, 412, 431, 485, 410, 243, 162, 155, 131 })]
    [InlineData("a\nb", new[] { 1, 261, 13, 430 })]
    [InlineData("", new[] { 1 })]
    [InlineData("x", new[] { 1, 410, 444 })]
    public void EncodeMatchesRunC(string text, int[] expected)
    {
        Assert.Equal(expected, Tok512.Value.Encode(text));
        Assert.Equal(expected, RunCEncode(text, bos: true));
    }

    [Fact]
    public void EncodingIsRunCsGreedyScoreMergeOnAProseCorpus()
    {
        var tok = Tok512.Value;
        foreach (string text in ProseCorpus())
        {
            int[] ids = tok.Encode(text);
            Assert.Equal(RunCEncode(text, bos: true), ids);
            Assert.Equal(text, tok.Decode(ids));
        }
    }

    [Fact]
    public void DecodeDropsControlTokensAndTheDummySpaceAfterBos()
    {
        var tok = Tok512.Value;
        int[] once = tok.Encode("Once", addBos: false);
        int[] upon = tok.Encode("upon", addBos: false);
        Assert.Equal("Once upon", tok.Decode([1, .. once, .. upon]));
        // Each BOS starts a new text, as in run.c: the next piece loses its leading space.
        Assert.Equal("OnceOnce", tok.Decode([1, .. once, 2, 1, .. once]));
        Assert.Equal("\n", tok.TokenToString(3 + '\n'));
        Assert.Equal("<0xE2>", tok.TokenToString(3 + 0xE2));
        Assert.Equal(" the", tok.TokenToString(265));
        Assert.Equal("<s>", tok.TokenToString(1));
        Assert.Throws<HeadMinerException>(() => tok.Decode([512]));
    }

    [Fact]
    public void LoneSurrogatesBecomeReplacementCharacters()
    {
        var tok = Tok512.Value;
        Assert.Equal("a\uFFFDb", tok.Decode(tok.Encode("a\uD800b")));
    }

    [Fact]
    public void VeryLongInputsComplete()
    {
        var tok = Tok512.Value;
        string spaces = new(' ', 100_000);
        Assert.Equal(spaces, tok.Decode(tok.Encode(spaces)));
        var random = new Random(20261121);
        string word = new([.. Enumerable.Range(0, 100_000).Select(_ => (char)('a' + random.Next(26)))]);
        Assert.Equal(word, tok.Decode(tok.Encode(word)));
    }

    internal static IEnumerable<string> ProseCorpus()
    {
        yield return ReferenceText;
        yield return "The quick brown fox jumps over the lazy dog. THE QUICK BROWN FOX!";
        yield return "Tabs\tand\nnewlines\r\n and   runs of    spaces   ";
        yield return "Numbers: 3.14159, 2026-11-21, 1,000,000 and 42%.";
        yield return "Unicode: café, naïve, Ελληνικά, русский, 中文, 日本語, 한국어, emoji 👨‍👩‍👧‍👦 🏳️‍🌈 😀.";
        yield return "Curly ’quotes’ and “double quotes” — and an ellipsis…";
        yield return " leading space";
        yield return "trailing space ";
        yield return "\nstarts with a newline";
        var random = new Random(7);
        string[] words = ["Lily", "Tom", "ball", "park", "happy", "sad", "mom", "dog", "cat", "big", "red", "tree", "the", "a", "and", "was", "play"];
        for (int i = 0; i < 40; i++)
        {
            var s = new StringBuilder();
            int n = 3 + random.Next(25);
            for (int k = 0; k < n; k++) s.Append(words[random.Next(words.Length)]).Append(random.Next(8) == 0 ? ". " : " ");
            yield return s.ToString().TrimEnd();
        }
    }

    /// <summary>
    /// A literal port of llama2.c run.c's encode, independent of the library: its own reader of the file, byte
    /// strings, dummy-prefix " " token, per-character lookup with &lt;0xNN&gt; = byte + 3 fallback, then rescanning
    /// all pairs for the concatenation with the highest score until none exists.
    /// </summary>
    internal static int[] RunCEncode(string text, bool bos)
    {
        byte[] file = File.ReadAllBytes(TokenizerTestFiles.SharedFile("stories260K", "tok512.bin"));
        var vocab = new List<byte[]>();
        var scores = new List<float>();
        for (int o = 4; o < file.Length;)
        {
            scores.Add(BinaryPrimitives.ReadSingleLittleEndian(file.AsSpan(o)));
            int len = BinaryPrimitives.ReadInt32LittleEndian(file.AsSpan(o + 4));
            vocab.Add(file[(o + 8)..(o + 8 + len)]);
            o += 8 + len;
        }
        var lookup = new Dictionary<string, int>();
        for (int i = 0; i < vocab.Count; i++) lookup.TryAdd(Convert.ToHexString(vocab[i]), i);
        int Lookup(byte[] s) => lookup.TryGetValue(Convert.ToHexString(s), out int id) ? id : -1;

        var tokens = new List<int>();
        if (bos) tokens.Add(1);
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        if (bytes.Length > 0) tokens.Add(Lookup(" "u8.ToArray()));
        for (int i = 0; i < bytes.Length;)
        {
            int j = i + 1;
            while (j < bytes.Length && (bytes[j] & 0xC0) == 0x80 && j - i < 4) j++;
            byte[] ch = bytes[i..j];
            int id = Lookup(ch);
            if (id >= 0) tokens.Add(id);
            else tokens.AddRange(ch.Select(b => b + 3));
            i = j;
        }
        while (true)
        {
            float best = -1e10f;
            int bestIdx = -1, bestId = -1;
            for (int i = 0; i + 1 < tokens.Count; i++)
            {
                int id = Lookup([.. vocab[tokens[i]], .. vocab[tokens[i + 1]]]);
                if (id >= 0 && scores[id] > best)
                {
                    best = scores[id];
                    bestIdx = i;
                    bestId = id;
                }
            }
            if (bestIdx < 0) break;
            tokens[bestIdx] = bestId;
            tokens.RemoveAt(bestIdx + 1);
        }
        return [.. tokens];
    }
}
