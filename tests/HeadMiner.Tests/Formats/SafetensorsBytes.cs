using System.Buffers.Binary;
using System.Text;

namespace HeadMiner.Tests.Formats;

/// <summary>Builds raw safetensors bytes from a header string, for tests that need headers the writer would never produce.</summary>
internal static class SafetensorsBytes
{
    /// <summary>u64 length + header (space-padded to 8-byte alignment when <paramref name="pad"/>) + data.</summary>
    public static byte[] Compose(string headerJson, ReadOnlySpan<byte> data, bool pad = true) => Compose(Encoding.UTF8.GetBytes(headerJson), data, pad);

    public static byte[] Compose(ReadOnlySpan<byte> header, ReadOnlySpan<byte> data, bool pad = true)
    {
        int padding = pad ? (8 - header.Length % 8) % 8 : 0;
        var bytes = new byte[8 + header.Length + padding + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)(header.Length + padding));
        header.CopyTo(bytes.AsSpan(8));
        bytes.AsSpan(8 + header.Length, padding).Fill((byte)' ');
        data.CopyTo(bytes.AsSpan(8 + header.Length + padding));
        return bytes;
    }

    /// <summary>The header length field and header text of a file's bytes.</summary>
    public static (ulong Length, string Json) ReadHeader(byte[] file)
    {
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(file);
        return (n, Encoding.UTF8.GetString(file, 8, (int)n));
    }
}
