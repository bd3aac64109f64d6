namespace HeadMiner.Models.Tokenizers;

/// <summary>
/// GPT-2's bytes_to_unicode: byte-level BPE vocabularies spell each byte as one printable character so that
/// vocab.json and merges.txt stay text. Printable Latin-1 bytes stand for themselves; the other 68 bytes (controls,
/// space, 0x7F-0xA0, 0xAD) map to U+0100.. in byte order, which is why a space is written "Ġ" (U+0120).
/// </summary>
internal static class GptByteAlphabet
{
    private static readonly char[] ByteToChar = BuildByteToChar();
    private static readonly Dictionary<char, byte> CharToByte = BuildCharToByte();

    public static char ToChar(byte value) => ByteToChar[value];

    public static bool TryToByte(char c, out byte value) => CharToByte.TryGetValue(c, out value);

    /// <summary>The bytes a vocabulary piece spells, or null if a character is outside the alphabet.</summary>
    public static byte[]? ToBytes(string piece)
    {
        var bytes = new byte[piece.Length];
        for (int i = 0; i < piece.Length; i++)
        {
            if (!CharToByte.TryGetValue(piece[i], out bytes[i])) return null;
        }
        return bytes;
    }

    private static bool IsPrintable(int b) => b is >= 0x21 and <= 0x7E or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;

    private static char[] BuildByteToChar()
    {
        var map = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++) map[b] = IsPrintable(b) ? (char)b : (char)next++;
        return map;
    }

    private static Dictionary<char, byte> BuildCharToByte()
    {
        var map = new Dictionary<char, byte>(256);
        for (int b = 0; b < 256; b++) map[ByteToChar[b]] = (byte)b;
        return map;
    }
}
