using System.Globalization;
using System.IO.Compression;
using System.Reflection;
using System.Text;
using System.Text.Json;
using HeadMiner.Models.Tokenizers;

namespace HeadMiner.Tests.Tokenizers;

/// <summary>
/// Turns a tiktoken encoding (the rank table Microsoft.ML.Tokenizers loads from its data packages) into the Hugging
/// Face byte-level BPE tokenizer.json that Llama 3 / Qwen-style checkpoints ship, so HeadMiner's own loader can be
/// checked against tiktoken's ids. Built in memory at test time: the converted files are several MB each, and the
/// data package already pins the ranks.
/// <para>
/// tiktoken has ranks, not merge rules: it repeatedly joins the adjacent pair whose concatenation has the lowest
/// rank. The equivalent merge list is the one transformers' TikTokenConverter writes (and Llama 3's tokenizer.json
/// holds): for every token, every split into two tokens is a rule, ordered by the token's rank, then by the ranks of
/// the left and right parts. Listing every split, not only the last merge a replay of the token's own bytes ends with,
/// matters because inside a longer piece tiktoken can reach a token through a different pair than in isolation.
/// Like tiktoken (which looks a whole piece up before merging) and Llama 3, ignore_merges is true.
/// </para>
/// </summary>
internal static class TiktokenToHuggingFace
{
    /// <summary>
    /// cl100k_base's split pattern as tiktoken spells it today (possessive quantifiers, <c>\s++$</c>), which is what
    /// Microsoft.ML.Tokenizers runs. Llama 3's tokenizer.json (<see cref="PreTokenizerPattern.Llama3"/>) carries the
    /// older spelling, which cuts a whitespace run that ends the text and holds a newline differently ("x \n " is
    /// "x", " \n", " " there and "x", " \n " here), so it could not be checked id for id against the reference.
    /// </summary>
    public const string Cl100kPattern = @"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s";

    /// <summary>o200k_base's split pattern as Hugging Face writes it (the GPT-4o tokenizer.json conversions) and
    /// Microsoft.ML.Tokenizers runs it.</summary>
    public const string O200kPattern =
        @"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
        + @"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
        + @"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>
    /// The rank file (one base64 token per line, in rank order) that the data package Microsoft.ML.Tokenizers.Data.&lt;Name&gt;
    /// embeds deflated, e.g. cl100k_base.tiktoken.deflate. Read directly because the library keeps its loaded table
    /// (TiktokenTokenizer.Encoder/Decoder) internal.
    /// </summary>
    public static byte[] RankFile(string encoding, string dataPackage)
    {
        var assembly = Assembly.Load(new AssemblyName(dataPackage));
        string resource = encoding + ".tiktoken.deflate";
        using var deflated = assembly.GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"{dataPackage} has no resource {resource}");
        using var inflated = new DeflateStream(deflated, CompressionMode.Decompress);
        using var file = new MemoryStream();
        inflated.CopyTo(file);
        return file.ToArray();
    }

    /// <summary>
    /// The tokenizer.json for the ranks in <paramref name="rankFile"/> with <paramref name="specialTokens"/> as added
    /// tokens, split by <paramref name="pattern"/>, as UTF-8 bytes.
    /// </summary>
    public static byte[] TokenizerJson(byte[] rankFile, IReadOnlyDictionary<string, int> specialTokens, string pattern)
    {
        // Ranks keyed by the token's byte-alphabet spelling: a substring of a spelling spells the same bytes' substring.
        var rankOf = new Dictionary<string, int>(StringComparer.Ordinal);
        int lineRank = -1;
        foreach (string line in Encoding.ASCII.GetString(rankFile).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            // The data packages' files start with a "Capacity: N" line (a sizing hint for the library's loader) and
            // leave out a rank that is one more than the previous line's; tiktoken's own files spell every rank.
            if (line.StartsWith("Capacity:", StringComparison.Ordinal)) continue;
            int space = line.IndexOf(' ', StringComparison.Ordinal);
            lineRank = space < 0 ? lineRank + 1 : int.Parse(line[(space + 1)..], CultureInfo.InvariantCulture);
            rankOf.Add(Spell(Convert.FromBase64String(space < 0 ? line : line[..space])), lineRank);
        }

        var merges = new List<(int Rank, int LeftRank, int RightRank, string Left, string Right)>();
        foreach (var (token, rank) in rankOf)
        {
            for (int cut = 1; cut < token.Length; cut++)
            {
                string left = token[..cut], right = token[cut..];
                if (rankOf.TryGetValue(left, out int l) && rankOf.TryGetValue(right, out int r)) merges.Add((rank, l, r, left, right));
            }
        }
        merges.Sort((a, b) => (a.Rank, a.LeftRank, a.RightRank).CompareTo((b.Rank, b.LeftRank, b.RightRank)));

        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream))
        {
            json.WriteStartObject();
            json.WriteString("version", "1.0");
            json.WriteStartArray("added_tokens");
            foreach (var (content, id) in specialTokens.OrderBy(p => p.Value))
            {
                json.WriteStartObject();
                json.WriteNumber("id", id);
                json.WriteString("content", content);
                json.WriteBoolean("special", true);
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteNull("normalizer");
            json.WriteStartObject("pre_tokenizer");
            json.WriteString("type", "Sequence");
            json.WriteStartArray("pretokenizers");
            json.WriteStartObject();
            json.WriteString("type", "Split");
            json.WriteStartObject("pattern");
            json.WriteString("Regex", pattern);
            json.WriteEndObject();
            json.WriteString("behavior", "Isolated");
            json.WriteBoolean("invert", false);
            json.WriteEndObject();
            json.WriteStartObject();
            json.WriteString("type", "ByteLevel");
            json.WriteBoolean("add_prefix_space", false);
            json.WriteBoolean("trim_offsets", true);
            json.WriteBoolean("use_regex", false);
            json.WriteEndObject();
            json.WriteEndArray();
            json.WriteEndObject();
            json.WriteStartObject("model");
            json.WriteString("type", "BPE");
            json.WriteNull("dropout");
            json.WriteNull("unk_token");
            json.WriteNull("continuing_subword_prefix");
            json.WriteNull("end_of_word_suffix");
            json.WriteBoolean("fuse_unk", false);
            json.WriteBoolean("byte_fallback", false);
            json.WriteBoolean("ignore_merges", true);
            json.WriteStartObject("vocab");
            foreach (var (token, rank) in rankOf.OrderBy(p => p.Value)) json.WriteNumber(token, rank);
            json.WriteEndObject();
            json.WriteStartArray("merges");
            foreach (var m in merges)
            {
                json.WriteStartArray();
                json.WriteStringValue(m.Left);
                json.WriteStringValue(m.Right);
                json.WriteEndArray();
            }
            json.WriteEndArray();
            json.WriteEndObject();
            json.WriteEndObject();
        }
        return stream.ToArray();
    }

    private static string Spell(ReadOnlySpan<byte> bytes)
    {
        var text = new StringBuilder(bytes.Length);
        foreach (byte b in bytes) text.Append(GptByteAlphabet.ToChar(b));
        return text.ToString();
    }
}
