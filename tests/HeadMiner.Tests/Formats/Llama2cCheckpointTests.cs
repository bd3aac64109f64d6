using System.Buffers.Binary;
using System.Runtime.InteropServices;
using HeadMiner.Models.Formats;

namespace HeadMiner.Tests.Formats;

public class Llama2cCheckpointTests
{
    private const long StoriesBytes = 1_056_540;

    private static string StoriesPath => TestPaths.SharedFile("models/stories260K/stories260K.bin");

    [Fact]
    public void Stories260KHeaderMatchesItsSourceNotes()
    {
        using var model = Llama2cCheckpoint.Open(StoriesPath);
        Assert.Equal(new Llama2cConfig(Dim: 64, HiddenDim: 172, Layers: 5, Heads: 8, KvHeads: 4, VocabSize: 512, SeqLen: 512, SharedClassifier: true), model.Config);
        Assert.Equal(8, model.Config.HeadSize);
        Assert.Equal(32, model.Config.KvDim);
    }

    [Fact]
    public void Stories260KArraysTileTheFileExactly()
    {
        using var model = Llama2cCheckpoint.Open(StoriesPath);
        Assert.Equal(
            ["token_embedding", "rms_att", "wq", "wk", "wv", "wo", "rms_ffn", "w1", "w2", "w3", "rms_final", "freq_cis_real", "freq_cis_imag"],
            model.Arrays.Select(a => a.Name));
        long offset = Llama2cCheckpoint.HeaderBytes;
        foreach (var array in model.Arrays)
        {
            Assert.Equal(offset, array.ByteOffset);
            offset = array.ByteEnd;
        }
        Assert.Equal(StoriesBytes, offset);
        Assert.Equal(264_128L, model.Arrays.Sum(a => a.ElementCount));
    }

    [Fact]
    public void Stories260KPerLayerViewsHaveLinearLayoutAndPointIntoTheFile()
    {
        using var model = Llama2cCheckpoint.Open(StoriesPath);
        Assert.Equal([64, 64], model.Wq(0).Shape.ToArray());
        Assert.Equal([32, 64], model.Wk(4).Shape.ToArray());
        Assert.Equal([32, 64], model.Wv(2).Shape.ToArray());
        Assert.Equal([64, 64], model.Wo(1).Shape.ToArray());
        Assert.Equal([172, 64], model.W1(3).Shape.ToArray());
        Assert.Equal([64, 172], model.W2(3).Shape.ToArray());
        Assert.Equal([172, 64], model.W3(3).Shape.ToArray());
        Assert.Equal([512, 64], model.TokenEmbedding.Shape.ToArray());
        Assert.Same(model.TokenEmbedding, model.Classifier); // positive vocab_size: tied classifier
        Assert.False(MemoryMarshal.TryGetArray<float>(model.Wq(3).Storage, out _)); // a view onto the mapping

        // Wq(3)[5, 7] must be the float at header + token_embedding + rms_att + 3 layers of wq + row 5, column 7.
        var bytes = File.ReadAllBytes(StoriesPath);
        long index = 512 * 64 + 5 * 64 + 3 * 64 * 64 + 5 * 64 + 7;
        float expected = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan((int)(28 + 4 * index)));
        Assert.Equal(expected, model.Wq(3)[5, 7]);
        // And w2(4)[63, 171] is the last float before rms_final.
        long lastW2 = model.Arrays.Single(a => a.Name == "w2").ByteEnd - 4;
        Assert.Equal(BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan((int)lastW2)), model.W2(4)[63, 171]);
    }

    [Fact]
    public void Stories260KNormWeightsAreFiniteAndRopeTablesAreCosSin()
    {
        using var model = Llama2cCheckpoint.Open(StoriesPath);
        for (int layer = 0; layer < model.Config.Layers; layer++)
        {
            Assert.All(model.RmsAtt(layer).ToArray(), v => Assert.True(float.IsFinite(v) && v != 0));
            Assert.All(model.RmsFfn(layer).ToArray(), v => Assert.True(float.IsFinite(v) && v != 0));
        }
        Assert.All(model.RmsFinal.ToArray(), v => Assert.True(float.IsFinite(v) && v != 0));
        // llama2.c's export stores cos/sin(pos · 10000^(-2i/head_size)); checking them proves the tail offsets are right.
        var real = model.GetArray("freq_cis_real");
        var imag = model.GetArray("freq_cis_imag");
        Assert.Equal([512, 4], real.Shape.ToArray());
        foreach (int pos in new[] { 0, 1, 7, 100, 511 })
        {
            for (int i = 0; i < 4; i++)
            {
                double angle = pos * Math.Pow(10000, -2.0 * i / 8);
                Assert.Equal(Math.Cos(angle), real[pos, i], 1e-3);
                Assert.Equal(Math.Sin(angle), imag[pos, i], 1e-3);
            }
        }
    }

    [Fact]
    public void LayerOutsideTheModelIsAHeadMinerError()
    {
        using var model = Llama2cCheckpoint.Open(StoriesPath);
        Assert.Contains("layer 5 is outside 0..4", Assert.Throws<HeadMinerException>(() => model.Wq(5)).Message);
    }

    private static string WriteVariant(TestPaths.TempDirectory dir, string name, Func<byte[], byte[]> change)
    {
        string path = dir.File(name);
        File.WriteAllBytes(path, change(File.ReadAllBytes(StoriesPath)));
        return path;
    }

    private static byte[] WithHeaderInt(byte[] bytes, int field, int value)
    {
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(field * 4), value);
        return bytes;
    }

    [Fact]
    public void TruncatedCopyFailsWithExpectedAndActualSize()
    {
        using var dir = TestPaths.NewTempDirectory();
        string path = WriteVariant(dir, "truncated.bin", b => b[..^100]);
        var e = Assert.Throws<HeadMinerException>(() => Llama2cCheckpoint.Open(path));
        Assert.Contains(path, e.Message);
        Assert.Contains($"{StoriesBytes - 100} bytes", e.Message);
        Assert.Contains($"implies {StoriesBytes} bytes", e.Message);
        Assert.Contains("truncated", e.Message);
    }

    [Fact]
    public void ExtraTrailingBytesFail()
    {
        using var dir = TestPaths.NewTempDirectory();
        string path = WriteVariant(dir, "long.bin", b => [.. b, 0, 0, 0, 0]);
        Assert.Contains("trailing data", Assert.Throws<HeadMinerException>(() => Llama2cCheckpoint.Open(path)).Message);
    }

    [Fact]
    public void WrongClassifierSignIsDiagnosed()
    {
        using var dir = TestPaths.NewTempDirectory();
        string path = WriteVariant(dir, "negvocab.bin", b => WithHeaderInt(b, 5, -512));
        Assert.Contains("sign of vocab_size", Assert.Throws<HeadMinerException>(() => Llama2cCheckpoint.Open(path)).Message);
    }

    [Fact]
    public void SeparateClassifierIsReadFromTheEnd()
    {
        using var dir = TestPaths.NewTempDirectory();
        // Append a distinct wcls and flip vocab_size negative: a valid untied checkpoint.
        var wcls = new float[512 * 64];
        for (int i = 0; i < wcls.Length; i++) wcls[i] = i;
        string path = WriteVariant(dir, "untied.bin", b => [.. WithHeaderInt(b, 5, -512), .. MemoryMarshal.AsBytes(wcls.AsSpan()).ToArray()]);
        using var model = Llama2cCheckpoint.Open(path);
        Assert.False(model.Config.SharedClassifier);
        Assert.Equal(512, model.Config.VocabSize);
        Assert.Equal("wcls", model.Arrays[^1].Name);
        Assert.Equal(3f * 64 + 5, model.Classifier[3, 5]);
        Assert.NotSame(model.TokenEmbedding, model.Classifier);
    }

    [Theory]
    [InlineData(3, 7, "dim must be a multiple of n_heads")]
    [InlineData(4, 3, "n_heads must be a multiple of n_kv_heads")]
    [InlineData(0, -64, "dim must be in")]
    [InlineData(2, 0, "n_layers must be in")]
    [InlineData(6, 1 << 30, "seq_len must be in")]
    [InlineData(5, 0, "vocab_size")]
    public void InvalidHeaderFieldsAreNamed(int field, int value, string problem)
    {
        using var dir = TestPaths.NewTempDirectory();
        string path = WriteVariant(dir, "bad.bin", b => WithHeaderInt(b, field, value));
        var e = Assert.Throws<HeadMinerException>(() => Llama2cCheckpoint.Open(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("invalid llama2.c header", e.Message);
        Assert.Contains(problem, e.Message);
    }

    [Fact]
    public void GarbageShortAndVersionedFilesFail()
    {
        using var dir = TestPaths.NewTempDirectory();
        string garbage = dir.File("garbage.bin");
        var random = new byte[4096];
        new Random(1234).NextBytes(random);
        File.WriteAllBytes(garbage, random);
        Assert.Contains("invalid llama2.c header", Assert.Throws<HeadMinerException>(() => Llama2cCheckpoint.Open(garbage)).Message);

        string shortFile = dir.File("short.bin");
        File.WriteAllBytes(shortFile, new byte[10]);
        Assert.Contains("too short", Assert.Throws<HeadMinerException>(() => Llama2cCheckpoint.Open(shortFile)).Message);

        string versioned = WriteVariant(dir, "v1.bin", b => WithHeaderInt(WithHeaderInt(b, 0, 0x616b3432), 1, 1));
        Assert.Contains("only legacy (v0)", Assert.Throws<HeadMinerException>(() => Llama2cCheckpoint.Open(versioned)).Message);

        Assert.Contains("not found", Assert.Throws<HeadMinerException>(() => Llama2cCheckpoint.Open(dir.File("none.bin"))).Message);
    }
}
