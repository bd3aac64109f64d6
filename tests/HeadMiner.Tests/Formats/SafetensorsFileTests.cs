using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json;
using HeadMiner.Models.Formats;
using HeadMiner.Tensors;

namespace HeadMiner.Tests.Formats;

public class SafetensorsFileTests
{
    // Bit patterns a lossy path would damage: -0, a subnormal, a NaN with payload, ±inf, max, min normal.
    private static readonly uint[] SpecialBits = [0x80000000, 0x00000001, 0x7FC12345, 0x7F800000, 0xFF800000, 0x7F7FFFFF, 0x00800000];

    private static float[] Floats(int count, ulong seed)
    {
        var values = Tensor.RandomNormal(seed, 1f, count).ToArray();
        for (int i = 0; i < SpecialBits.Length && i < count; i++) values[i] = BitConverter.UInt32BitsToSingle(SpecialBits[i]);
        return values;
    }

    private static string WriteMixedFile(TestPaths.TempDirectory dir, out float[] f32, out float[] f16Source, out float[] bf16Source)
    {
        f32 = Floats(2 * 3 * 5, 1);
        f16Source = Tensor.RandomNormal(2, 1f, 7).ToArray();
        bf16Source = Tensor.RandomNormal(3, 1f, 3 * 3).ToArray();
        var ints = new byte[4 * 3];
        BinaryPrimitives.WriteInt32LittleEndian(ints, -7);
        BinaryPrimitives.WriteInt32LittleEndian(ints.AsSpan(4), 42);
        BinaryPrimitives.WriteInt32LittleEndian(ints.AsSpan(8), int.MaxValue);
        string path = dir.File("mixed.safetensors");
        new SafetensorsWriter()
            .AddMetadata("format", "pt")
            .AddMetadata("note", "ünïcode ✓")
            .Add("odd.f16", Tensor.Wrap(f16Source, 7), SafetensorsDType.F16) // 14 bytes: would misalign later F32 data
            .Add("w.f32", Tensor.Wrap(f32, 2, 3, 5))
            .Add("b.bf16", Tensor.Wrap(bf16Source, 3, 3), SafetensorsDType.BF16)
            .AddRaw("ids", SafetensorsDType.I32, [3], ints)
            .AddRaw("mask", SafetensorsDType.Bool, [2, 1], [1, 0])
            .Add("scalar", Tensor.FromSpan([2.5f]).Reshape(), SafetensorsDType.F32)
            .Add("empty", Tensor.Zeros(0, 4))
            .Save(path);
        return path;
    }

    [Fact]
    public void RoundTripKeepsNamesShapesMetadataAndExactBits()
    {
        using var dir = TestPaths.NewTempDirectory();
        string path = WriteMixedFile(dir, out var f32, out var f16Source, out var bf16Source);
        using var file = SafetensorsFile.Open(path);

        Assert.Equal(
            new[] { "odd.f16", "w.f32", "b.bf16", "ids", "mask", "scalar", "empty" }.Order(StringComparer.Ordinal),
            file.TensorNames.Order(StringComparer.Ordinal));
        Assert.Equal("pt", file.Metadata["format"]);
        Assert.Equal("ünïcode ✓", file.Metadata["note"]);

        var w = file.GetFloat32("w.f32");
        Assert.Equal([2, 3, 5], w.Shape.ToArray());
        Assert.Equal(f32.Select(BitConverter.SingleToUInt32Bits), w.ToArray().Select(BitConverter.SingleToUInt32Bits));

        var f16 = file.GetHalf("odd.f16");
        Assert.Equal(SafetensorsDType.F16, f16.DType);
        Assert.Equal(f16Source.Select(HalfPrecision.FloatToF16), f16.Storage.ToArray());
        Assert.Equal(f16Source.Select(v => (float)(Half)v), file.GetFloat32("odd.f16").ToArray());

        var bf16 = file.GetHalf("b.bf16");
        Assert.Equal([3, 3], bf16.Shape.ToArray());
        Assert.Equal(bf16Source.Select(HalfPrecision.FloatToBf16), bf16.Storage.ToArray());
        Assert.Equal(bf16Source.Select(v => HalfPrecision.Bf16ToFloat(HalfPrecision.FloatToBf16(v))), file.GetFloat32("b.bf16").ToArray());

        Assert.Equal(SafetensorsDType.I32, file.Info("ids").DType);
        var ids = MemoryMarshal.Cast<byte, int>(file.RawBytes("ids")).ToArray();
        Assert.Equal([-7, 42, int.MaxValue], ids);
        Assert.Equal([1, 0], file.RawBytes("mask").ToArray());
        Assert.Equal(2.5f, file.GetFloat32("scalar").ToArray().Single());
        Assert.Equal(0, file.GetFloat32("scalar").Rank);
        Assert.Equal([0, 4], file.GetFloat32("empty").Shape.ToArray());
    }

    [Fact]
    public void HeaderOrderIsLargestElementFirstThenInsertionOrder()
    {
        using var dir = TestPaths.NewTempDirectory();
        string path = WriteMixedFile(dir, out _, out _, out _);
        using var file = SafetensorsFile.Open(path);
        Assert.Equal(["w.f32", "ids", "scalar", "empty", "odd.f16", "b.bf16", "mask"], file.TensorNames);
    }

    [Fact]
    public void WriterUsesCanonicalLayout()
    {
        using var dir = TestPaths.NewTempDirectory();
        string path = WriteMixedFile(dir, out _, out _, out _);
        var bytes = File.ReadAllBytes(path);
        var (headerLength, json) = SafetensorsBytes.ReadHeader(bytes);
        Assert.Equal(0UL, (8 + headerLength) % 8);
        Assert.StartsWith("{\"__metadata__\":", json);
        Assert.Matches("} *$", json);

        using var file = SafetensorsFile.Open(path);
        long expectedBegin = 0;
        foreach (string name in file.TensorNames)
        {
            var info = file.Info(name);
            Assert.Equal(expectedBegin, info.DataBegin); // contiguous, in header order, no gaps
            Assert.Equal(0, (file.DataStart + info.DataBegin) % info.DType.SizeOf()); // naturally aligned
            expectedBegin = info.DataEnd;
        }
        Assert.Equal(file.Length - file.DataStart, expectedBegin); // data section ends at file end
    }

    [Fact]
    public void AlignedF32IsAViewOntoTheMappingNotACopy()
    {
        using var dir = TestPaths.NewTempDirectory();
        string path = WriteMixedFile(dir, out _, out _, out _);
        using var file = SafetensorsFile.Open(path);
        Assert.False(MemoryMarshal.TryGetArray<float>(file.GetFloat32("w.f32").Storage, out _));
        Assert.False(MemoryMarshal.TryGetArray<ushort>(file.GetHalf("b.bf16").Storage, out _));
    }

    [Fact]
    public void UnalignedF32IsCopiedWithCorrectValues()
    {
        var data = new byte[2 + 8];
        data[0] = 9;
        data[1] = 8;
        BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan(2), 1.5f);
        BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan(6), -3.25f);
        string header = """{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"F32","shape":[2],"data_offsets":[2,10]}}""";
        using var dir = TestPaths.NewTempDirectory();
        string path = dir.File("unaligned.safetensors");
        File.WriteAllBytes(path, SafetensorsBytes.Compose(header, data));
        using var file = SafetensorsFile.Open(path);
        var b = file.GetFloat32("b");
        Assert.Equal([1.5f, -3.25f], b.ToArray());
        Assert.True(MemoryMarshal.TryGetArray<float>(b.Storage, out _)); // the documented fallback: a copy
    }

    [Fact]
    public void UnknownNameErrorNamesFileAndNearNames()
    {
        using var dir = TestPaths.NewTempDirectory();
        string path = WriteMixedFile(dir, out _, out _, out _);
        using var file = SafetensorsFile.Open(path);
        var e = Assert.Throws<HeadMinerException>(() => file.GetFloat32("w.f33"));
        Assert.Contains(path, e.Message);
        Assert.Contains("'w.f33'", e.Message);
        Assert.Contains("nearest: 'w.f32'", e.Message);
    }

    [Fact]
    public void IntegerTensorCannotBeReadAsFloat()
    {
        using var dir = TestPaths.NewTempDirectory();
        string path = WriteMixedFile(dir, out _, out _, out _);
        using var file = SafetensorsFile.Open(path);
        var e = Assert.Throws<HeadMinerException>(() => file.GetFloat32("ids"));
        Assert.Contains("'ids'", e.Message);
        Assert.Contains("I32", e.Message);
        Assert.Throws<HeadMinerException>(() => file.GetHalf("w.f32"));
    }

    public static TheoryData<string, string, string> BadHeaders => new()
    {
        { """{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"u":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", "'u'", "overlaps tensor 't'" },
        { """{"t":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}""", "'t'", "past the end of the data section" },
        { """{"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}""", "'t'", "needs 12" },
        { """{"t":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}""", "'t'", "begin after end" },
        { """{"t":{"dtype":"F8","shape":[2],"data_offsets":[0,8]}}""", "'t'", "unknown dtype 'F8'" },
        { """{"t":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}""", "'t'", "shape[0] is -2" },
        { """{"t":{"dtype":"F32","shape":[2147483647,2147483647,2147483647],"data_offsets":[0,8]}}""", "'t'", "more bytes than a 64-bit length" },
        { """{"t":{"dtype":"F32","shape":[2]}}""", "'t'", "missing field 'data_offsets'" },
        { """{"t":{"dtype":"F32","shape":"2","data_offsets":[0,8]}}""", "'t'", "shape is a JSON string" },
        { """{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8,9]}}""", "'t'", "expected [begin, end]" },
        { """{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8.5]}}""", "'t'", "data_offsets[1] is 8.5" },
        { """{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", "'t'", "appears twice" },
        { """{"__metadata__":{"k":1}}""", "'k'", "expected a string" },
        { """[1,2]""", "header", "expected an object" },
        { """{"t":""", "header", "not valid JSON" },
    };

    [Theory]
    [MemberData(nameof(BadHeaders))]
    public void InvalidHeaderFailsWithMessageNamingFileTensorAndProblem(string header, string subject, string problem)
    {
        using var dir = TestPaths.NewTempDirectory();
        string path = dir.File("bad.safetensors");
        File.WriteAllBytes(path, SafetensorsBytes.Compose(header, new byte[8]));
        var e = Assert.Throws<HeadMinerException>(() => SafetensorsFile.Open(path).Dispose());
        Assert.Contains(path, e.Message);
        Assert.Contains(subject, e.Message);
        Assert.Contains(problem, e.Message);
    }

    [Fact]
    public void LyingHeaderLengthsAreRejectedBeforeAllocating()
    {
        using var dir = TestPaths.NewTempDirectory();
        string path = dir.File("lying.safetensors");
        var bytes = SafetensorsBytes.Compose("{}", new byte[16]);
        foreach (ulong length in new[] { ulong.MaxValue, (ulong)SafetensorsFile.MaxHeaderBytes + 1, (ulong)bytes.Length - 7, 0UL })
        {
            BinaryPrimitives.WriteUInt64LittleEndian(bytes, length);
            File.WriteAllBytes(path, bytes);
            long before = GC.GetAllocatedBytesForCurrentThread();
            var e = Assert.Throws<HeadMinerException>(() => SafetensorsFile.Open(path).Dispose());
            Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1 << 20, $"length {length} caused a large allocation");
            Assert.Contains(path, e.Message);
            Assert.Contains("header", e.Message);
        }
        File.WriteAllBytes(path, new byte[7]);
        Assert.Contains("too short", Assert.Throws<HeadMinerException>(() => SafetensorsFile.Open(path)).Message);
        Assert.Contains("not found", Assert.Throws<HeadMinerException>(() => SafetensorsFile.Open(dir.File("missing.safetensors"))).Message);
    }

    [Fact]
    public void NonUtf8HeaderIsRejected()
    {
        var header = "{\"t?\":{}}"u8.ToArray();
        header[3] = 0xFF; // a byte that never occurs in UTF-8
        using var dir = TestPaths.NewTempDirectory();
        string path = dir.File("latin1.safetensors");
        File.WriteAllBytes(path, SafetensorsBytes.Compose(header, []));
        Assert.Contains("not valid UTF-8", Assert.Throws<HeadMinerException>(() => SafetensorsFile.Open(path)).Message);
    }

    [Fact]
    public void DeeplyNestedJsonIsRejectedWithoutStackOverflow()
    {
        string header = "{\"t\":" + new string('[', 100_000) + new string(']', 100_000) + "}";
        using var dir = TestPaths.NewTempDirectory();
        string path = dir.File("deep.safetensors");
        File.WriteAllBytes(path, SafetensorsBytes.Compose(header, []));
        Assert.Contains("not valid JSON", Assert.Throws<HeadMinerException>(() => SafetensorsFile.Open(path)).Message);
    }

    [Fact]
    public void WrittenHeaderIsPlainJsonThatOtherToolsCanParse()
    {
        using var dir = TestPaths.NewTempDirectory();
        string path = WriteMixedFile(dir, out _, out _, out _);
        var (_, json) = SafetensorsBytes.ReadHeader(File.ReadAllBytes(path));
        using var doc = JsonDocument.Parse(json);
        var w = doc.RootElement.GetProperty("w.f32");
        Assert.Equal("F32", w.GetProperty("dtype").GetString());
        Assert.Equal([2, 3, 5], w.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal([0L, 120L], w.GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()));
    }
}
