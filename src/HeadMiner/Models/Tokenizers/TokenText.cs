using System.Buffers;
using System.Text;

namespace HeadMiner.Models.Tokenizers;

/// <summary>Turns token bytes into text: lossily for decoding, readably for reports.</summary>
internal static class TokenText
{
    /// <summary>UTF-8 to string; invalid sequences become U+FFFD (maximal subparts), like Rust's from_utf8_lossy.</summary>
    public static string DecodeUtf8(ReadOnlySpan<byte> bytes) => Encoding.UTF8.GetString(bytes);

    /// <summary>UTF-16 to UTF-8; a lone surrogate becomes U+FFFD's bytes, as TextEncoder and Rust's String do.</summary>
    public static byte[] EncodeUtf8(ReadOnlySpan<char> text)
    {
        var bytes = new byte[Encoding.UTF8.GetByteCount(text)];
        Encoding.UTF8.GetBytes(text, bytes);
        return bytes;
    }

    /// <summary>
    /// Whole UTF-8 characters as themselves, every other byte as &lt;0xNN&gt;: a token holding half of "é" must not
    /// look like U+FFFD in a report, since two different tokens would then look the same.
    /// </summary>
    public static string Readable(ReadOnlySpan<byte> bytes)
    {
        var text = new StringBuilder(bytes.Length);
        while (!bytes.IsEmpty)
        {
            if (Rune.DecodeFromUtf8(bytes, out Rune rune, out int used) == OperationStatus.Done)
            {
                text.Append(rune.ToString());
                bytes = bytes[used..];
            }
            else
            {
                text.Append("<0x").Append(bytes[0].ToString("X2", System.Globalization.CultureInfo.InvariantCulture)).Append('>');
                bytes = bytes[1..];
            }
        }
        return text.ToString();
    }
}
