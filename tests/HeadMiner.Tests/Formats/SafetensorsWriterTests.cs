using HeadMiner.Models.Formats;
using HeadMiner.Tensors;

namespace HeadMiner.Tests.Formats;

public class SafetensorsWriterTests
{
    [Fact]
    public void HalfConversionIsExactAcrossChunkBoundaries()
    {
        using var dir = TestPaths.NewTempDirectory();
        var values = Tensor.RandomNormal(11, 3f, 70_001); // more than one 65,536-element conversion chunk
        string path = dir.File("halves.safetensors");
        new SafetensorsWriter()
            .Add("bf", values, SafetensorsDType.BF16)
            .Add("f16", values, SafetensorsDType.F16)
            .Save(path);
        using var file = SafetensorsFile.Open(path);
        var source = values.ToArray();
        Assert.Equal(source.Select(HalfPrecision.FloatToBf16), file.GetHalf("bf").Storage.ToArray());
        Assert.Equal(source.Select(HalfPrecision.FloatToF16), file.GetHalf("f16").Storage.ToArray());
    }

    [Fact]
    public void StridedViewsAreWrittenInRowMajorOrder()
    {
        using var dir = TestPaths.NewTempDirectory();
        var matrix = Tensor.Wrap([1f, 2f, 3f, 4f, 5f, 6f], 2, 3);
        string path = dir.File("t.safetensors");
        new SafetensorsWriter().Add("t", matrix.Transpose(0, 1)).Save(path);
        using var file = SafetensorsFile.Open(path);
        var t = file.GetFloat32("t");
        Assert.Equal([3, 2], t.Shape.ToArray());
        Assert.Equal([1f, 4f, 2f, 5f, 3f, 6f], t.ToArray());
    }

    [Fact]
    public void SavingOverTheMappedSourceFileIsSafe()
    {
        using var dir = TestPaths.NewTempDirectory();
        string path = dir.File("model.safetensors");
        new SafetensorsWriter().Add("a", Tensor.Wrap([1f, 2f, 3f], 3)).Save(path);
        using var original = SafetensorsFile.Open(path);
        var mapped = original.GetFloat32("a");
        new SafetensorsWriter().Add("a", mapped).Add("b", Tensor.Wrap([9f], 1)).Save(path);
        Assert.Equal([1f, 2f, 3f], mapped.ToArray()); // the old mapping still sees the old file
        using var rewritten = SafetensorsFile.Open(path);
        Assert.Equal(["a", "b"], rewritten.TensorNames);
        Assert.Equal([1f, 2f, 3f], rewritten.GetFloat32("a").ToArray());
        Assert.Equal(["model.safetensors"], Directory.GetFiles(dir.Path).Select(Path.GetFileName)); // no temp file left
    }

    [Fact]
    public void MisuseIsRejectedWhenAdding()
    {
        var writer = new SafetensorsWriter().Add("x", Tensor.Zeros(2));
        Assert.Throws<ArgumentException>(() => writer.Add("x", Tensor.Zeros(2)));
        Assert.Throws<ArgumentException>(() => writer.Add("__metadata__", Tensor.Zeros(2)));
        Assert.Throws<ArgumentException>(() => writer.Add("y", Tensor.Zeros(2), SafetensorsDType.I32));
        Assert.Throws<ArgumentException>(() => writer.AddRaw("z", SafetensorsDType.I16, [3], new byte[5]));
    }

    [Fact]
    public void StaticWriteStoresFloat32TensorsAndMetadata()
    {
        using var dir = TestPaths.NewTempDirectory();
        string path = dir.File("w.safetensors");
        SafetensorsWriter.Write(path,
            [new("p", Tensor.Wrap([0.5f, -0.25f], 2)), new("q", Tensor.Zeros(1, 1))],
            new Dictionary<string, string> { ["format"] = "pt" });
        using var file = SafetensorsFile.Open(path);
        Assert.Equal(["p", "q"], file.TensorNames);
        Assert.Equal([0.5f, -0.25f], file.GetFloat32("p").ToArray());
        Assert.Equal("pt", file.Metadata["format"]);
    }
}
