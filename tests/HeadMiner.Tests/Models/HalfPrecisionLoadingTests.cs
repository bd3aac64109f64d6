using HeadMiner.Models;
using HeadMiner.Models.Formats;

namespace HeadMiner.Tests.Models;

/// <summary>BF16/F16 checkpoints stay 16-bit in the model and compute exactly what their widened float32 copy computes.</summary>
public class HalfPrecisionLoadingTests
{
    /// <summary>A copy of a parity fixture with every tensor stored in <paramref name="dtype"/>.</summary>
    private static TestPaths.TempDirectory HalfCopy(string fixture, SafetensorsDType dtype)
    {
        var dir = TestPaths.NewTempDirectory();
        string src = TestPaths.Fixture("parity", fixture);
        File.Copy(Path.Combine(src, "config.json"), dir.File("config.json"));
        using var f32 = SafetensorsFile.Open(Path.Combine(src, "model.safetensors"));
        var writer = new SafetensorsWriter();
        foreach (var name in f32.TensorNames) writer.Add(name, f32.GetFloat32(name).Clone(), dtype);
        writer.Save(dir.File("model.safetensors"));
        return dir;
    }

    /// <summary>A float32 copy of a half checkpoint: every tensor widened and stored as F32 (the eagerly converted model).</summary>
    private static TestPaths.TempDirectory WidenedCopy(TestPaths.TempDirectory half)
    {
        var dir = TestPaths.NewTempDirectory();
        File.Copy(half.File("config.json"), dir.File("config.json"));
        using var file = SafetensorsFile.Open(half.File("model.safetensors"));
        var writer = new SafetensorsWriter();
        foreach (var name in file.TensorNames) writer.Add(name, file.GetFloat32(name));
        writer.Save(dir.File("model.safetensors"));
        return dir;
    }

    [Theory]
    [InlineData("llama", SafetensorsDType.BF16)]
    [InlineData("gpt2", SafetensorsDType.F16)]
    [InlineData("gpt_neox", SafetensorsDType.BF16)]
    [InlineData("phi3", SafetensorsDType.BF16)]
    public void SixteenBitModelGivesExactlyTheLogitsOfItsWidenedCopy(string fixture, SafetensorsDType dtype)
    {
        using var dir = HalfCopy(fixture, dtype);
        using var widened = WidenedCopy(dir);
        using var half = ModelLoader.Load(dir.Path);
        using var full = ModelLoader.Load(widened.Path);
        Assert.NotNull(half.Model.Weights.Blocks[0].W_Q.Half);
        Assert.Null(full.Model.Weights.Blocks[0].W_Q.Half);
        var tokens = TinyModels.Tokens(full.Model.Config, 9, 3);
        Assert.Equal(full.Model.Forward(tokens).ToArray(), half.Model.Forward(tokens).ToArray());
        // A 16-bit tensor's elements read as their widened values.
        Assert.Equal(full.Model.Weights.Blocks[1].W_Q[1, 3, 2], half.Model.Weights.Blocks[1].W_Q[1, 3, 2]);
    }

    [Fact]
    public void HalfPrecisionLogitsStayCloseToTheFloat32Reference()
    {
        using var dir = HalfCopy("llama", SafetensorsDType.BF16);
        using var half = ModelLoader.Load(dir.Path);
        using var full = ModelLoader.Load(TestPaths.Fixture("parity", "llama"));
        var tokens = TinyModels.Tokens(full.Model.Config, 9, 4);
        var a = full.Model.Forward(tokens).ToArray();
        var b = half.Model.Forward(tokens).ToArray();
        float range = a.Max() - a.Min();
        // BF16 keeps 8 significant bits; the weights' rounding moves logits by a few percent of their range at most.
        Assert.True(a.Zip(b).Max(p => Math.Abs(p.First - p.Second)) < 0.05f * range);
        Assert.NotEqual(a, b);
    }

    [Fact]
    public void ProcessingASixteenBitModelEqualsProcessingItsWidenedCopy()
    {
        using var dir = HalfCopy("gpt2", SafetensorsDType.BF16);
        using var widened = WidenedCopy(dir);
        using var half = ModelLoader.Load(dir.Path, new LoadOptions { Processing = WeightProcessing.TransformerLensDefault });
        using var full = ModelLoader.Load(widened.Path, new LoadOptions { Processing = WeightProcessing.TransformerLensDefault });
        var tokens = TinyModels.Tokens(full.Model.Config, 7, 5);
        Assert.Equal(full.Model.Forward(tokens).ToArray(), half.Model.Forward(tokens).ToArray());
    }
}
