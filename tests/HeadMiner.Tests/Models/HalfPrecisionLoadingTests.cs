using HeadMiner.Models;
using HeadMiner.Models.Formats;

namespace HeadMiner.Tests.Models;

/// <summary>BF16/F16 checkpoints: converted at load by default, or kept compact and converted per layer on use.</summary>
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

    [Theory]
    [InlineData("llama", SafetensorsDType.BF16)]
    [InlineData("gpt2", SafetensorsDType.F16)]
    [InlineData("gpt_neox", SafetensorsDType.BF16)]
    [InlineData("phi3", SafetensorsDType.BF16)]
    public void CompactModelGivesExactlyTheLogitsOfTheEagerlyConvertedOne(string fixture, SafetensorsDType dtype)
    {
        using var dir = HalfCopy(fixture, dtype);
        using var eager = ModelLoader.Load(dir.Path);
        using var compact = ModelLoader.Load(dir.Path, new LoadOptions { CompactHalf = true });
        Assert.All(compact.Model.Weights.Blocks, b => Assert.True(b.IsLazy));
        Assert.All(eager.Model.Weights.Blocks, b => Assert.False(b.IsLazy));
        var tokens = TinyModels.Tokens(eager.Model.Config, 9, 3);
        Assert.Equal(eager.Model.Forward(tokens).ToArray(), compact.Model.Forward(tokens).ToArray());
        // A lazy layer's tensors read like any other's.
        Assert.Equal(eager.Model.Weights.Blocks[1].W_Q[1, 3, 2], compact.Model.Weights.Blocks[1].W_Q[1, 3, 2]);
    }

    [Fact]
    public void HalfPrecisionLogitsStayCloseToTheFloat32Reference()
    {
        using var dir = HalfCopy("llama", SafetensorsDType.BF16);
        using var half = ModelLoader.Load(dir.Path, new LoadOptions { CompactHalf = true });
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
    public void ProcessingACompactModelPinsItsLayers()
    {
        using var dir = HalfCopy("gpt2", SafetensorsDType.BF16);
        using var compact = ModelLoader.Load(dir.Path, new LoadOptions { CompactHalf = true, Processing = WeightProcessing.TransformerLensDefault });
        using var eager = ModelLoader.Load(dir.Path, new LoadOptions { Processing = WeightProcessing.TransformerLensDefault });
        Assert.All(compact.Model.Weights.Blocks, b => Assert.False(b.IsLazy));
        var tokens = TinyModels.Tokens(eager.Model.Config, 7, 5);
        Assert.Equal(eager.Model.Forward(tokens).ToArray(), compact.Model.Forward(tokens).ToArray());
    }
}
