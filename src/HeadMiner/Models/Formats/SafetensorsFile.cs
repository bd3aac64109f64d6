using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Unicode;
using HeadMiner.Tensors;

namespace HeadMiner.Models.Formats;

/// <summary>
/// One safetensors file, memory-mapped and validated before anything in it is trusted.
/// Layout: u64 little-endian header length N, N bytes of UTF-8 JSON (<c>{"__metadata__": {…}, "name": {"dtype",
/// "shape", "data_offsets": [begin, end]}, …}</c>), then the data section that the offsets index into.
/// <para>
/// <see cref="Open"/> checks every length, offset and shape against the file before a single tensor is handed out, so
/// a damaged or hostile file fails with one <see cref="HeadMinerException"/> naming the file, the tensor and the problem,
/// and never makes the reader allocate what a length field claims. F32 tensors are views straight onto the mapping
/// (no copy); keep this object alive as long as any tensor obtained from it.
/// </para>
/// </summary>
public sealed class SafetensorsFile : IDisposable
{
    /// <summary>Largest header accepted. Real headers are kilobytes; this bounds the one allocation a file can cause.</summary>
    public const long MaxHeaderBytes = 100_000_000;

    /// <summary>Deepest JSON nesting accepted; a valid header needs 3.</summary>
    private const int MaxJsonDepth = 16;

    private readonly MappedFile _map;
    private readonly Dictionary<string, SafetensorsTensorInfo> _tensors;
    private readonly List<string> _names;

    private SafetensorsFile(string path, MappedFile map, long dataStart, List<SafetensorsTensorInfo> tensors, Dictionary<string, string> metadata)
    {
        Path = path;
        _map = map;
        DataStart = dataStart;
        _names = tensors.Select(t => t.Name).ToList();
        _tensors = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        Metadata = metadata;
    }

    public string Path { get; }

    /// <summary>File length in bytes.</summary>
    public long Length => _map.Length;

    /// <summary>Absolute byte offset of the data section (8 + header length).</summary>
    public long DataStart { get; }

    /// <summary>Tensor names in header order.</summary>
    public IReadOnlyList<string> TensorNames => _names;

    /// <summary>The <c>__metadata__</c> map (empty when the header has none).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Maps and validates <paramref name="path"/>. Throws <see cref="HeadMinerException"/> for anything wrong with it.</summary>
    public static SafetensorsFile Open(string path)
    {
        var info = FileLinks.Resolve(path, "safetensors file");
        if (info.Length < 8)
            throw new HeadMinerException($"{path}: file is {info.Length} bytes, too short for a safetensors file (needs an 8-byte header length)");
        MappedFile map;
        try
        {
            map = new MappedFile(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new HeadMinerException($"{path}: cannot map file: {e.Message}", e);
        }
        try
        {
            var (dataStart, tensors, metadata) = ReadHeader(path, map);
            return new SafetensorsFile(path, map, dataStart, tensors, metadata);
        }
        catch
        {
            map.Dispose();
            throw;
        }
    }

    public bool Contains(string name) => _tensors.ContainsKey(name);

    public bool TryGetInfo(string name, out SafetensorsTensorInfo info) => _tensors.TryGetValue(name, out info!);

    /// <summary>The validated header entry of <paramref name="name"/>; unknown names fail with the nearest known ones.</summary>
    public SafetensorsTensorInfo Info(string name)
    {
        if (_tensors.TryGetValue(name, out var info)) return info;
        throw new HeadMinerException(
            $"{Path}: no tensor named '{ErrorText.Clip(name)}' (file has {_names.Count} tensors{NameSuggestions.Describe(name, _names)})");
    }

    /// <summary>The stored bytes of a tensor, straight from the mapping (any dtype).</summary>
    public ReadOnlySpan<byte> RawBytes(string name)
    {
        var info = Info(name);
        if (info.ByteLength > int.MaxValue)
            throw new HeadMinerException($"{Path}: tensor '{name}': {info.ByteLength} bytes is too large to read as one span");
        return _map.Bytes(DataStart + info.DataBegin, (int)info.ByteLength);
    }

    /// <summary>
    /// A float32 tensor. F32 data is a zero-copy view over the mapping when its file offset is 4-byte aligned
    /// (the canonical layout guarantees that); an unaligned F32 tensor is copied, because a float view on an
    /// unaligned address is not portable. F16/BF16 data is widened into a new array.
    /// </summary>
    public Tensor GetFloat32(string name)
    {
        var info = Info(name);
        int count = ElementCountAsInt(info);
        long offset = DataStart + info.DataBegin;
        switch (info.DType)
        {
            case SafetensorsDType.F32:
                if (offset % sizeof(float) == 0) return Tensor.FromMemory(_map.Floats(offset, count), info.ShapeArray());
                var copy = new float[count];
                _map.Bytes(offset, checked(count * sizeof(float))).CopyTo(MemoryMarshal.AsBytes(copy.AsSpan()));
                return Tensor.Wrap(copy, info.ShapeArray());
            case SafetensorsDType.F16:
            case SafetensorsDType.BF16:
                return GetHalf(name).ToFloat();
            default:
                throw new HeadMinerException(
                    $"{Path}: tensor '{ErrorText.Clip(name)}' has dtype {info.DType.HeaderName()}, which cannot be read as float32 (only F32, F16, BF16)");
        }
    }

    /// <summary>
    /// A tensor as stored, widening nothing: F32 as <see cref="GetFloat32"/> gives it, F16/BF16 as a 16-bit
    /// <see cref="Tensor"/> (<see cref="Tensor.Half"/>) over the mapping. What a model loads its weights with, so
    /// loading reads no weight data and a BF16 checkpoint stays the size of its file.
    /// </summary>
    public Tensor Get(string name)
    {
        var info = Info(name);
        return info.DType.IsHalf() ? GetHalf(name).AsTensor() : GetFloat32(name);
    }

    /// <summary>
    /// An F16/BF16 tensor kept 16-bit: a zero-copy view over the mapping when 2-byte aligned, a copy otherwise.
    /// </summary>
    public HalfTensor GetHalf(string name)
    {
        var info = Info(name);
        if (!info.DType.IsHalf())
            throw new HeadMinerException($"{Path}: tensor '{ErrorText.Clip(name)}' has dtype {info.DType.HeaderName()}, not F16 or BF16");
        int count = ElementCountAsInt(info);
        long offset = DataStart + info.DataBegin;
        if (offset % sizeof(ushort) == 0) return new HalfTensor(_map.Halves(offset, count), info.DType, info.ShapeArray());
        var copy = new ushort[count];
        _map.Bytes(offset, checked(count * sizeof(ushort))).CopyTo(MemoryMarshal.AsBytes(copy.AsSpan()));
        return new HalfTensor(copy, info.DType, info.ShapeArray());
    }

    public void Dispose() => _map.Dispose();

    private int ElementCountAsInt(SafetensorsTensorInfo info)
    {
        if (info.ElementCount > int.MaxValue)
            throw new HeadMinerException($"{Path}: tensor '{ErrorText.Clip(info.Name)}' has {info.ElementCount} elements, more than a tensor can index (2^31-1)");
        return (int)info.ElementCount;
    }

    // ---- header validation ----------------------------------------------------------------------------------

    private static (long DataStart, List<SafetensorsTensorInfo> Tensors, Dictionary<string, string> Metadata) ReadHeader(string path, MappedFile map)
    {
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(map.Bytes(0, 8));
        if (headerLength > MaxHeaderBytes)
            throw new HeadMinerException($"{path}: safetensors header length {headerLength} exceeds the {MaxHeaderBytes}-byte limit (damaged or not a safetensors file)");
        if (headerLength > (ulong)(map.Length - 8))
            throw new HeadMinerException($"{path}: safetensors header length {headerLength} runs past the end of the {map.Length}-byte file");
        if (headerLength == 0) throw new HeadMinerException($"{path}: safetensors header is empty (length 0)");

        var headerBytes = map.Bytes(8, (int)headerLength);
        if (!Utf8.IsValid(headerBytes)) throw new HeadMinerException($"{path}: safetensors header is not valid UTF-8");
        long dataStart = 8 + (long)headerLength;
        long dataLength = map.Length - dataStart;

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(headerBytes.ToArray(), new JsonDocumentOptions { MaxDepth = MaxJsonDepth });
        }
        catch (JsonException e)
        {
            throw new HeadMinerException($"{path}: safetensors header is not valid JSON: {e.Message}", e);
        }
        using (document)
        {
            try
            {
                return ReadEntries(path, document.RootElement, dataStart, dataLength);
            }
            catch (InvalidOperationException e)
            {
                // System.Text.Json accepts an unpaired \uD800-style escape while parsing and only fails when the
                // string is read; that is still a malformed header, not a bug.
                throw new HeadMinerException($"{path}: safetensors header has a malformed JSON string: {e.Message}", e);
            }
        }
    }

    private static (long DataStart, List<SafetensorsTensorInfo> Tensors, Dictionary<string, string> Metadata) ReadEntries(
        string path, JsonElement root, long dataStart, long dataLength)
    {
        if (root.ValueKind != JsonValueKind.Object)
            throw new HeadMinerException($"{path}: safetensors header is a JSON {Kind(root)}, expected an object");
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        bool sawMetadata = false;
        var tensors = new List<SafetensorsTensorInfo>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var property in root.EnumerateObject())
        {
            if (property.Name == "__metadata__")
            {
                if (sawMetadata) throw new HeadMinerException($"{path}: safetensors header has two __metadata__ entries");
                sawMetadata = true;
                ReadMetadata(path, property.Value, metadata);
                continue;
            }
            if (!seen.Add(property.Name))
                throw new HeadMinerException($"{path}: tensor '{ErrorText.Clip(property.Name)}' appears twice in the header");
            tensors.Add(ReadEntry(path, property.Name, property.Value, dataLength));
        }
        CheckNoOverlap(path, tensors);
        return (dataStart, tensors, metadata);
    }

    private static void ReadMetadata(string path, JsonElement value, Dictionary<string, string> metadata)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw new HeadMinerException($"{path}: __metadata__ is a JSON {Kind(value)}, expected an object of strings");
        foreach (var entry in value.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.String)
                throw new HeadMinerException($"{path}: __metadata__ entry '{ErrorText.Clip(entry.Name)}' is a JSON {Kind(entry.Value)}, expected a string");
            if (!metadata.TryAdd(entry.Name, entry.Value.GetString()!))
                throw new HeadMinerException($"{path}: __metadata__ entry '{ErrorText.Clip(entry.Name)}' appears twice");
        }
    }

    private static SafetensorsTensorInfo ReadEntry(string path, string name, JsonElement entry, long dataLength)
    {
        string where = $"{path}: tensor '{ErrorText.Clip(name)}'";
        if (entry.ValueKind != JsonValueKind.Object)
            throw new HeadMinerException($"{where}: header entry is a JSON {Kind(entry)}, expected an object with dtype, shape, data_offsets");
        JsonElement? dtypeElement = null, shapeElement = null, offsetsElement = null;
        foreach (var field in entry.EnumerateObject())
        {
            // Other fields are ignored, as the reference implementation does; the three we use must be unambiguous.
            ref JsonElement? slot = ref dtypeElement;
            if (field.Name == "dtype") slot = ref dtypeElement;
            else if (field.Name == "shape") slot = ref shapeElement;
            else if (field.Name == "data_offsets") slot = ref offsetsElement;
            else continue;
            if (slot is not null) throw new HeadMinerException($"{where}: field '{field.Name}' appears twice");
            slot = field.Value;
        }
        if (dtypeElement is not { } dtypeValue) throw new HeadMinerException($"{where}: missing field 'dtype'");
        if (shapeElement is not { } shapeValue) throw new HeadMinerException($"{where}: missing field 'shape'");
        if (offsetsElement is not { } offsetsValue) throw new HeadMinerException($"{where}: missing field 'data_offsets'");

        if (dtypeValue.ValueKind != JsonValueKind.String)
            throw new HeadMinerException($"{where}: dtype is a JSON {Kind(dtypeValue)}, expected a string");
        string dtypeText = dtypeValue.GetString()!;
        if (!SafetensorsDTypes.TryParse(dtypeText, out var dtype))
            throw new HeadMinerException($"{where}: unknown dtype '{ErrorText.Clip(dtypeText)}' (known: F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL)");

        if (shapeValue.ValueKind != JsonValueKind.Array)
            throw new HeadMinerException($"{where}: shape is a JSON {Kind(shapeValue)}, expected an array of non-negative integers");
        int rank = shapeValue.GetArrayLength();
        if (rank > 64) throw new HeadMinerException($"{where}: shape has {rank} dimensions (at most 64 supported)");
        var shape = new int[rank];
        long elements = 1;
        bool overflow = false;
        for (int i = 0; i < rank; i++)
        {
            var dim = shapeValue[i];
            if (dim.ValueKind != JsonValueKind.Number || !dim.TryGetInt64(out long d) || d < 0)
                throw new HeadMinerException($"{where}: shape[{i}] is {Show(dim)}, expected a non-negative integer");
            if (d > int.MaxValue)
                throw new HeadMinerException($"{where}: shape[{i}] = {d} exceeds 2^31-1, the largest dimension a tensor can index");
            shape[i] = (int)d;
            if (elements != 0 && d != 0 && elements > long.MaxValue / d) overflow = true;
            else elements *= d;
        }
        // A zero dimension anywhere makes the tensor empty even if the other dimensions' product would overflow.
        if (shape.Contains(0)) { elements = 0; overflow = false; }
        int size = dtype.SizeOf();
        if (overflow || elements > long.MaxValue / size)
            throw new HeadMinerException($"{where}: shape {Tensor.Format(shape)} of {dtype.HeaderName()} has more bytes than a 64-bit length can hold");
        long byteLength = elements * size;

        if (offsetsValue.ValueKind != JsonValueKind.Array || offsetsValue.GetArrayLength() != 2)
            throw new HeadMinerException($"{where}: data_offsets is {Show(offsetsValue)}, expected [begin, end]");
        var offsets = new long[2];
        for (int i = 0; i < 2; i++)
        {
            var o = offsetsValue[i];
            if (o.ValueKind != JsonValueKind.Number || !o.TryGetInt64(out offsets[i]) || offsets[i] < 0)
                throw new HeadMinerException($"{where}: data_offsets[{i}] is {Show(o)}, expected a non-negative integer");
        }
        long begin = offsets[0], end = offsets[1];
        if (begin > end) throw new HeadMinerException($"{where}: data_offsets [{begin}, {end}] has begin after end");
        if (end > dataLength)
            throw new HeadMinerException($"{where}: data_offsets [{begin}, {end}] run past the end of the data section ({dataLength} bytes)");
        if (end - begin != byteLength)
            throw new HeadMinerException(
                $"{where}: data_offsets [{begin}, {end}] span {end - begin} bytes but shape {Tensor.Format(shape)} of {dtype.HeaderName()} needs {byteLength}");
        return new SafetensorsTensorInfo(name, dtype, shape, begin, end);
    }

    private static void CheckNoOverlap(string path, List<SafetensorsTensorInfo> tensors)
    {
        // Empty tensors occupy no bytes, so they cannot overlap anything.
        var ranges = tensors.Where(t => t.ByteLength > 0).OrderBy(t => t.DataBegin).ToList();
        for (int i = 1; i < ranges.Count; i++)
        {
            var previous = ranges[i - 1];
            var current = ranges[i];
            if (current.DataBegin < previous.DataEnd)
                throw new HeadMinerException(
                    $"{path}: tensor '{ErrorText.Clip(current.Name)}' data [{current.DataBegin}, {current.DataEnd}) overlaps tensor '{ErrorText.Clip(previous.Name)}' [{previous.DataBegin}, {previous.DataEnd})");
        }
    }

    private static string Kind(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => "object",
        JsonValueKind.Array => "array",
        JsonValueKind.String => "string",
        JsonValueKind.Number => "number",
        JsonValueKind.True or JsonValueKind.False => "boolean",
        JsonValueKind.Null => "null",
        _ => "value",
    };

    private static string Show(JsonElement e) => e.ValueKind is JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False or JsonValueKind.Null
        ? ErrorText.Clip(e.GetRawText(), 40)
        : "a JSON " + Kind(e);
}
