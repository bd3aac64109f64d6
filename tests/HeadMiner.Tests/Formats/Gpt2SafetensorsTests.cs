using System.Runtime.InteropServices;
using HeadMiner.Models.Formats;
using Xunit.Abstractions;

namespace HeadMiner.Tests.Formats;

/// <summary>Runs alone: it measures this process's anonymous memory, which concurrent tests would disturb.</summary>
[CollectionDefinition(nameof(MemoryMeasurementCollection), DisableParallelization = true)]
public class MemoryMeasurementCollection;

[Collection(nameof(MemoryMeasurementCollection))]
public class Gpt2SafetensorsTests(ITestOutputHelper output)
{
    private static string ModelPath => TestPaths.SharedFile("models/gpt2-small-attention-only/model.safetensors");

    [Fact]
    public void OpensWithExpectedTensorsAndPublishedValues()
    {
        using var checkpoint = SafetensorsCheckpoint.Open(ModelPath);
        Assert.Equal(123, checkpoint.TensorNames.Count); // 12 layers × 10 + wpe + ln_f weight/bias
        var info = checkpoint.Info("h.0.attn.c_attn.weight");
        Assert.Equal(SafetensorsDType.F32, info.DType);
        Assert.Equal([768, 2304], info.Shape.ToArray());
        Assert.Equal("pt", checkpoint.Metadata["format"]);

        var wpe = checkpoint.GetFloat32("wpe.weight");
        Assert.Equal([1024, 768], wpe.Shape.ToArray());
        Assert.Equal(-0.0188, wpe[0, 0], 4e-4);
        Assert.Equal(-0.1974, wpe[0, 1], 4e-4);
        Assert.Equal(0.0040, wpe[0, 2], 4e-4);
        var ln1 = checkpoint.GetFloat32("h.0.ln_1.weight");
        Assert.Equal([0.2232, 0.1820, 0.1534], ln1.ToArray()[..3].Select(v => Math.Round(v, 4)));
        Assert.False(checkpoint.Contains("wte.weight")); // documented as absent
    }

    [Fact]
    public void LoadingMapsTheFileInsteadOfCopyingIt()
    {
        long fileSize = new FileInfo(ModelPath).Length;
        GC.Collect();
        GC.WaitForPendingFinalizers();
        long anonBefore = ResidentBytes("RssAnon:");
        long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();

        using var checkpoint = SafetensorsCheckpoint.Open(ModelPath);
        double checksum = 0;
        foreach (string name in checkpoint.TensorNames)
        {
            var tensor = checkpoint.GetFloat32(name);
            Assert.False(MemoryMarshal.TryGetArray<float>(tensor.Storage, out _), $"{name} was copied into an array");
            foreach (float v in tensor.Span) checksum += v; // touch every page
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
        Assert.True(double.IsFinite(checksum));
        Assert.True(allocated < 4 << 20, $"opening and reading a {fileSize}-byte file allocated {allocated} managed bytes");
        if (OperatingSystem.IsLinux())
        {
            long anonGrowth = ResidentBytes("RssAnon:") - anonBefore;
            output.WriteLine($"file {fileSize} bytes; after touching every tensor: RssAnon grew {anonGrowth} bytes, RssFile {ResidentBytes("RssFile:")} bytes, managed allocations {allocated} bytes");
            Assert.True(anonGrowth < fileSize / 4, $"anonymous RSS grew by {anonGrowth} bytes for a {fileSize}-byte file");
        }
    }

    /// <summary>
    /// A resident-set figure from /proc/self/status: RssAnon is private memory (a copy would land there), RssFile the
    /// mapped file pages.
    /// </summary>
    private static long ResidentBytes(string field)
    {
        foreach (string line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith(field, StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) * 1024;
        }
        throw new InvalidOperationException($"{field} not found in /proc/self/status");
    }
}
