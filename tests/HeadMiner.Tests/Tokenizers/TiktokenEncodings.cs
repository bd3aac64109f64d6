using System.Text.Json;
using HeadMiner.Models.Tokenizers;
using Microsoft.ML.Tokenizers;

namespace HeadMiner.Tests.Tokenizers;

/// <summary>
/// Built once for <see cref="TiktokenParityTests"/> (the rank tables are large): for cl100k_base and o200k_base, the
/// reference (Microsoft.ML.Tokenizers), the same ranks with no pre-tokenizer (tiktoken's BPE alone), HeadMiner's
/// tokenizer loaded from the converted tokenizer.json through <see cref="TokenizerLoader"/>, and the committed cases.
/// </summary>
public sealed class TiktokenEncodings : IDisposable
{
    public static readonly string[] Names = ["cl100k_base", "o200k_base"];

    private static readonly Dictionary<string, string> DataPackages = new()
    {
        ["cl100k_base"] = "Microsoft.ML.Tokenizers.Data.Cl100kBase",
        ["o200k_base"] = "Microsoft.ML.Tokenizers.Data.O200kBase",
    };

    private readonly string _directory = Path.Combine(Path.GetTempPath(), "headminer-tiktoken-" + Guid.NewGuid().ToString("N"));

    public IReadOnlyDictionary<string, TiktokenTokenizer> Reference { get; }
    public IReadOnlyDictionary<string, TiktokenTokenizer> BpeOnly { get; }
    public IReadOnlyDictionary<string, ITokenizer> Ours { get; }
    public IReadOnlyDictionary<string, PreTokenizerPattern> Patterns { get; }
    internal IReadOnlyDictionary<string, SpecialTokenMatcher> Specials { get; }
    public IReadOnlyList<Case> Cases { get; }

    public TiktokenEncodings()
    {
        var reference = new Dictionary<string, TiktokenTokenizer>();
        var bpeOnly = new Dictionary<string, TiktokenTokenizer>();
        var ours = new Dictionary<string, ITokenizer>();
        var patterns = new Dictionary<string, PreTokenizerPattern>();
        var specials = new Dictionary<string, SpecialTokenMatcher>();
        foreach (string name in Names)
        {
            var tiktoken = TiktokenTokenizer.CreateForEncoding(name);
            reference[name] = tiktoken;
            byte[] ranks = TiktokenToHuggingFace.RankFile(name, DataPackages[name]);
            bpeOnly[name] = TiktokenTokenizer.Create(new MemoryStream(ranks), preTokenizer: null, normalizer: null);
            string pattern = name == "cl100k_base" ? TiktokenToHuggingFace.Cl100kPattern : TiktokenToHuggingFace.O200kPattern;
            patterns[name] = new PreTokenizerPattern(pattern);
            specials[name] = new SpecialTokenMatcher(tiktoken.SpecialTokens!);
            // Through the real loading path: a model folder with a tokenizer.json, so its Split regex is parsed too.
            string folder = Path.Combine(_directory, name);
            Directory.CreateDirectory(folder);
            File.WriteAllBytes(Path.Combine(folder, "tokenizer.json"), TiktokenToHuggingFace.TokenizerJson(ranks, tiktoken.SpecialTokens!, pattern));
            ours[name] = TokenizerLoader.Load(folder);
        }
        Reference = reference;
        BpeOnly = bpeOnly;
        Ours = ours;
        Patterns = patterns;
        Specials = specials;
        Cases = LoadCases();
    }

    /// <summary>
    /// How HeadMiner cuts <paramref name="text"/> for <paramref name="encoding"/>: special tokens whole (with their id),
    /// the rest by the split pattern (id -1).
    /// </summary>
    public List<(int Start, int Length, int SpecialId)> OurCut(string encoding, string text)
    {
        var pieces = new List<(int, int, int)>();
        foreach (var (start, length, specialId) in Specials[encoding].Split(text))
        {
            if (specialId >= 0) pieces.Add((start, length, specialId));
            else pieces.AddRange(Patterns[encoding].Split(text.Substring(start, length)).Select(p => (start + p.Start, p.Length, -1)));
        }
        return pieces;
    }

    /// <summary>Whether the reference's pre-tokenizer cuts <paramref name="text"/> where HeadMiner does.</summary>
    public bool SameCut(string encoding, string text) =>
        Reference[encoding].PreTokenizer!.PreTokenize(text).SequenceEqual(OurCut(encoding, text).Select(p => (p.Start, p.Length)));

    /// <summary>One corpus string and the reference ids per encoding.</summary>
    public sealed record Case(string Text, IReadOnlyDictionary<string, int[]> Ids);

    public void Dispose()
    {
        if (Directory.Exists(_directory)) Directory.Delete(_directory, recursive: true);
    }

    private static List<Case> LoadCases()
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(TokenizerTestFiles.Fixture("tiktoken_parity.json")));
        var cases = new List<Case>();
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            var ids = Names.ToDictionary(n => n, n => c.GetProperty(n).EnumerateArray().Select(i => i.GetInt32()).ToArray());
            cases.Add(new Case(c.GetProperty("text").GetString()!, ids));
        }
        return cases;
    }
}
