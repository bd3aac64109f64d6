using System.Globalization;
using System.Text;

namespace HeadMiner.Models.Tokenizers;

/// <summary>
/// Unicode NFC and NFKC (UAX #15: full decomposition, canonical ordering, canonical composition, Hangul included) on
/// tables shipped with the library (unicode-normalization.txt, made by tools/unicode/make_normalization_data.py).
/// HeadMiner builds with InvariantGlobalization, where <see cref="string.Normalize()"/> returns non-ASCII text
/// unchanged, so a tokenizer.json NFC normalizer (Qwen2, Qwen3) would silently do nothing without this.
/// Lone surrogates pass through unchanged.
/// </summary>
internal static class UnicodeNormalization
{
    private const int SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7;
    private const int LCount = 19, VCount = 21, TCount = 28, NCount = VCount * TCount, SCount = LCount * NCount;

    private static readonly Lazy<Tables> Data = new(Tables.Load);

    /// <summary>The Unicode version of the tables ("14.0.0").</summary>
    public static string UnicodeVersion => Data.Value.Version;

    public static string Nfc(string text) => Normalize(text, compatibility: false);

    public static string Nfkc(string text) => Normalize(text, compatibility: true);

    private static string Normalize(string text, bool compatibility)
    {
        // Below U+00A0 nothing decomposes, combines or has a compatibility mapping.
        bool plain = true;
        foreach (char c in text)
        {
            if (c >= '\u00A0')
            {
                plain = false;
                break;
            }
        }
        if (plain) return text;

        var tables = Data.Value;
        var buffer = new List<int>(text.Length + 8);
        for (int i = 0; i < text.Length;)
        {
            int cp;
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                cp = char.ConvertToUtf32(text[i], text[i + 1]);
                i += 2;
            }
            else
            {
                cp = text[i++]; // a BMP character or a lone surrogate (kept as it is)
            }
            Decompose(cp, compatibility, tables, buffer);
        }
        Reorder(buffer, tables);
        Compose(buffer, tables);
        var result = new StringBuilder(buffer.Count);
        foreach (int cp in buffer)
        {
            if (cp is >= 0xD800 and <= 0xDFFF) result.Append((char)cp);
            else result.Append(char.ConvertFromUtf32(cp));
        }
        return result.ToString();
    }

    private static void Decompose(int cp, bool compatibility, Tables tables, List<int> into)
    {
        if (cp is >= SBase and < SBase + SCount)
        {
            int s = cp - SBase;
            into.Add(LBase + s / NCount);
            into.Add(VBase + s % NCount / TCount);
            if (s % TCount != 0) into.Add(TBase + s % TCount);
            return;
        }
        if (compatibility && tables.Compatibility.TryGetValue(cp, out int[]? k))
        {
            into.AddRange(k);
            return;
        }
        if (tables.Canonical.TryGetValue(cp, out int[]? d))
        {
            into.AddRange(d);
            return;
        }
        into.Add(cp);
    }

    // Canonical ordering: a stable sort of each run of non-starters by combining class.
    private static void Reorder(List<int> cps, Tables tables)
    {
        for (int i = 1; i < cps.Count; i++)
        {
            int ccc = tables.Ccc(cps[i]);
            if (ccc == 0) continue;
            for (int j = i; j > 0; j--)
            {
                int before = tables.Ccc(cps[j - 1]);
                if (before <= ccc) break;
                (cps[j - 1], cps[j]) = (cps[j], cps[j - 1]);
            }
        }
    }

    // Canonical composition: each character joins the last starter if nothing between them blocks it.
    private static void Compose(List<int> cps, Tables tables)
    {
        if (cps.Count < 2) return;
        int starter = tables.Ccc(cps[0]) == 0 ? 0 : -1;
        int lastCcc = starter == 0 ? 0 : 256; // class of the last character kept after the starter
        int kept = 1;
        for (int i = 1; i < cps.Count; i++)
        {
            int cp = cps[i];
            int ccc = tables.Ccc(cp);
            bool adjacent = starter == kept - 1;
            bool blocked = !adjacent && (lastCcc == 0 || lastCcc >= ccc);
            if (starter >= 0 && !blocked && TryCompose(cps[starter], cp, tables, out int composite))
            {
                cps[starter] = composite;
                continue;
            }
            if (ccc == 0)
            {
                starter = kept;
                lastCcc = 0;
            }
            else
            {
                lastCcc = ccc;
            }
            cps[kept++] = cp;
        }
        cps.RemoveRange(kept, cps.Count - kept);
    }

    private static bool TryCompose(int first, int second, Tables tables, out int composite)
    {
        if (first is >= LBase and < LBase + LCount && second is >= VBase and < VBase + VCount)
        {
            composite = SBase + ((first - LBase) * VCount + (second - VBase)) * TCount;
            return true;
        }
        if (first is >= SBase and < SBase + SCount && (first - SBase) % TCount == 0 && second is > TBase and < TBase + TCount)
        {
            composite = first + (second - TBase);
            return true;
        }
        return tables.Compositions.TryGetValue(((long)first << 21) | (uint)second, out composite);
    }

    private sealed class Tables
    {
        public required string Version { get; init; }
        public Dictionary<int, int[]> Canonical { get; } = [];
        public Dictionary<int, int[]> Compatibility { get; } = [];
        public Dictionary<long, int> Compositions { get; } = [];
        public Dictionary<int, byte> Classes { get; } = [];

        public int Ccc(int cp) => cp < 0x300 ? 0 : Classes.TryGetValue(cp, out byte c) ? c : 0;

        public static Tables Load()
        {
            const string name = "HeadMiner.Models.Tokenizers.unicode-normalization.txt";
            using var stream = typeof(UnicodeNormalization).Assembly.GetManifestResourceStream(name)
                ?? throw new HeadMinerException($"the library is missing its embedded resource {name}");
            using var reader = new StreamReader(stream, Encoding.ASCII);
            string header = reader.ReadLine() ?? "";
            var tables = new Tables { Version = header.Split(' ').Skip(2).FirstOrDefault() ?? "?" };
            static int Hex(string s) => int.Parse(s, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            for (string? line = reader.ReadLine(); line is not null; line = reader.ReadLine())
            {
                string[] f = line.Split(' ');
                switch (f[0])
                {
                    case "c":
                        byte ccc = byte.Parse(f[3], CultureInfo.InvariantCulture);
                        for (int cp = Hex(f[1]); cp <= Hex(f[2]); cp++) tables.Classes[cp] = ccc;
                        break;
                    case "d":
                        tables.Canonical[Hex(f[1])] = [.. f.Skip(2).Select(Hex)];
                        break;
                    case "k":
                        tables.Compatibility[Hex(f[1])] = [.. f.Skip(2).Select(Hex)];
                        break;
                    case "p":
                        tables.Compositions[((long)Hex(f[1]) << 21) | (uint)Hex(f[2])] = Hex(f[3]);
                        break;
                }
            }
            return tables;
        }
    }
}
