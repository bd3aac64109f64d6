using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json;
using HeadMiner.Tensors;

namespace HeadMiner.Models.Formats;

/// <summary>
/// Collects named tensors and writes them as one safetensors file, atomically (<see cref="AtomicFile"/>): a reader
/// never sees a half-written file. Layout is the canonical one: u64 header length, JSON header (<c>__metadata__</c>
/// first, then tensors) padded with spaces so the data section starts 8-byte aligned, then the tensors' bytes back
/// to back with no gaps. Tensors are stored largest element size first (insertion order within a size), which keeps
/// every tensor aligned to its element size, so readers can map F32 data without copying.
/// <para>
/// Tensors are referenced, not copied, when added (except <see cref="AddRaw"/>): their values are read when
/// <see cref="Save"/> runs. Saving over the file the tensors were mapped from is safe, because the new file replaces
/// the old one by rename and the mapping keeps the old content.
/// </para>
/// </summary>
public sealed class SafetensorsWriter
{
    private const int ConvertChunk = 1 << 16;

    private readonly List<Entry> _entries = [];
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _metadata = new(StringComparer.Ordinal);

    private sealed record Entry(string Name, SafetensorsDType DType, int[] Shape, long ByteLength, Action<Stream> WriteData);

    /// <summary>Writes float32 tensors (and metadata) to <paramref name="path"/> in one call.</summary>
    public static void Write(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var writer = new SafetensorsWriter();
        if (metadata is not null)
            foreach (var (key, value) in metadata) writer.AddMetadata(key, value);
        foreach (var (name, tensor) in tensors) writer.Add(name, tensor);
        writer.Save(path);
    }

    public SafetensorsWriter AddMetadata(string key, string value)
    {
        _metadata[key] = value;
        return this;
    }

    /// <summary>Adds a float32 tensor stored as F32 (strided views are written in row-major order).</summary>
    public SafetensorsWriter Add(string name, Tensor tensor) => Add(name, tensor, SafetensorsDType.F32);

    /// <summary>Adds a float32 tensor stored as F32, or rounded to F16/BF16 (round to nearest even) when written.</summary>
    public SafetensorsWriter Add(string name, Tensor tensor, SafetensorsDType dtype)
    {
        if (!dtype.IsFloatConvertible()) throw new ArgumentException($"tensor '{name}': cannot store a float32 tensor as {dtype.HeaderName()}", nameof(dtype));
        var shape = tensor.Shape.ToArray();
        long bytes = (long)tensor.Length * dtype.SizeOf();
        return AddEntry(new Entry(name, dtype, shape, bytes, stream =>
        {
            var values = tensor.Contiguous().Span;
            if (dtype == SafetensorsDType.F32)
            {
                stream.Write(MemoryMarshal.AsBytes(values));
                return;
            }
            var buffer = new ushort[Math.Min(ConvertChunk, values.Length)];
            for (int start = 0; start < values.Length; start += buffer.Length)
            {
                var chunk = values.Slice(start, Math.Min(buffer.Length, values.Length - start));
                var bits = buffer.AsSpan(0, chunk.Length);
                if (dtype == SafetensorsDType.BF16) HalfPrecision.FloatToBf16(chunk, bits);
                else HalfPrecision.FloatToF16(chunk, bits);
                stream.Write(MemoryMarshal.AsBytes(bits));
            }
        }));
    }

    /// <summary>Adds an F16/BF16 tensor, stored bit for bit.</summary>
    public SafetensorsWriter Add(string name, HalfTensor tensor) =>
        AddEntry(new Entry(name, tensor.DType, tensor.Shape.ToArray(), (long)tensor.Length * sizeof(ushort),
            stream => stream.Write(MemoryMarshal.AsBytes(tensor.Storage.Span))));

    /// <summary>Adds a tensor of any dtype from its little-endian bytes (integers, bools, pre-encoded floats).</summary>
    public SafetensorsWriter AddRaw(string name, SafetensorsDType dtype, int[] shape, ReadOnlySpan<byte> data)
    {
        long elements = 1;
        foreach (int d in shape)
        {
            if (d < 0) throw new ArgumentException($"tensor '{name}': negative dimension in shape {Tensor.Format(shape)}", nameof(shape));
            elements = checked(elements * d);
        }
        long bytes = checked(elements * dtype.SizeOf());
        if (bytes != data.Length)
            throw new ArgumentException($"tensor '{name}': {data.Length} bytes given but shape {Tensor.Format(shape)} of {dtype.HeaderName()} needs {bytes}", nameof(data));
        var copy = data.ToArray();
        return AddEntry(new Entry(name, dtype, (int[])shape.Clone(), bytes, stream => stream.Write(copy)));
    }

    /// <summary>Writes the file atomically; an existing file at <paramref name="path"/> is replaced only on success.</summary>
    public void Save(string path)
    {
        var ordered = _entries.Select((e, i) => (Entry: e, Index: i))
            .OrderByDescending(x => x.Entry.DType.SizeOf()).ThenBy(x => x.Index)
            .Select(x => x.Entry).ToList();
        byte[] header = BuildHeader(ordered);
        AtomicFile.Write(path, stream =>
        {
            Span<byte> length = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
            stream.Write(length);
            stream.Write(header);
            foreach (var entry in ordered)
            {
                long before = stream.Position;
                entry.WriteData(stream);
                if (stream.Position - before != entry.ByteLength)
                    throw new InvalidOperationException($"tensor '{entry.Name}' wrote {stream.Position - before} bytes, expected {entry.ByteLength}");
            }
        });
    }

    private SafetensorsWriter AddEntry(Entry entry)
    {
        if (entry.Name == "__metadata__") throw new ArgumentException("'__metadata__' is reserved and cannot name a tensor");
        if (!_names.Add(entry.Name)) throw new ArgumentException($"tensor '{entry.Name}' was already added");
        _entries.Add(entry);
        return this;
    }

    private byte[] BuildHeader(List<Entry> ordered)
    {
        using var json = new MemoryStream();
        using (var writer = new Utf8JsonWriter(json))
        {
            writer.WriteStartObject();
            if (_metadata.Count > 0)
            {
                writer.WriteStartObject("__metadata__");
                foreach (var (key, value) in _metadata) writer.WriteString(key, value);
                writer.WriteEndObject();
            }
            long offset = 0;
            foreach (var entry in ordered)
            {
                writer.WriteStartObject(entry.Name);
                writer.WriteString("dtype", entry.DType.HeaderName());
                writer.WriteStartArray("shape");
                foreach (int d in entry.Shape) writer.WriteNumberValue(d);
                writer.WriteEndArray();
                writer.WriteStartArray("data_offsets");
                writer.WriteNumberValue(offset);
                writer.WriteNumberValue(offset + entry.ByteLength);
                writer.WriteEndArray();
                writer.WriteEndObject();
                offset += entry.ByteLength;
            }
            writer.WriteEndObject();
        }
        // Pad with spaces (valid trailing JSON whitespace) so 8 + header length is a multiple of 8.
        int padding = (int)((8 - json.Length % 8) % 8);
        for (int i = 0; i < padding; i++) json.WriteByte((byte)' ');
        return json.ToArray();
    }
}
