using HeadMiner.Models;
using HeadMiner.Models.Formats;
using Xunit.Abstractions;

namespace HeadMiner.Tests.Models;

/// <summary>
/// Every architecture's parity fixture stored in BF16 and in F16 (written by <see cref="SafetensorsWriter"/>,
/// round to nearest even) and loaded as such: the weights stay 16-bit (mapped, widened inside the GEMM) and the
/// logits match PyTorch's float64 reference on the same rounded weights (expected_bf16.json / expected_f16.json, from
/// tools/fixtures/parity/make_half_parity_expectations.py) within the float32 parity's tolerance, 1e-4 × the logit
/// range: the 16-bit path adds no error beyond float32 arithmetic on the stored values.
/// </summary>
public class HalfPrecisionParityTests(ITestOutputHelper output)
{
    public static TheoryData<string, SafetensorsDType> Cases()
    {
        var data = new TheoryData<string, SafetensorsDType>();
        foreach (string name in ArchitectureParityTests.Fixtures)
        {
            data.Add(name, SafetensorsDType.BF16);
            data.Add(name, SafetensorsDType.F16);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void SixteenBitCheckpointMatchesThePyTorchReferenceOnTheRoundedWeights(string name, SafetensorsDType dtype)
    {
        string fixture = TestPaths.Fixture("parity", name);
        using var dir = TestPaths.NewTempDirectory();
        File.Copy(Path.Combine(fixture, "config.json"), dir.File("config.json"));
        using (var f32 = SafetensorsFile.Open(Path.Combine(fixture, "model.safetensors")))
        {
            var writer = new SafetensorsWriter();
            foreach (var tensor in f32.TensorNames) writer.Add(tensor, f32.GetFloat32(tensor), dtype);
            writer.Save(dir.File("model.safetensors"));
        }
        using var loaded = ModelLoader.Load(dir.Path);
        Assert.NotNull(loaded.Model.Weights.Blocks[0].W_Q.Half);
        Assert.NotNull(loaded.Model.Weights.W_E.Half);
        var expected = ArchitectureParityTests.Read(fixture, dtype == SafetensorsDType.BF16 ? "expected_bf16.json" : "expected_f16.json");
        var (diff, range) = ArchitectureParityTests.Compare(loaded.Model, expected, logProbs: false);
        output.WriteLine($"{name} {dtype}: max |Δlogit| = {diff:G3}, logit range {range:F2}");
        Assert.True(range > 1f, $"{name}: reference logits span only {range}");
        Assert.True(diff <= 1e-4f * range, $"{name} {dtype}: max |Δlogit| = {diff:G3} exceeds 1e-4 × range {range:F2}");
    }
}
