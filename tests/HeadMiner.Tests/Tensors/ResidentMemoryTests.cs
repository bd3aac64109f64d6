using HeadMiner.Tensors;

namespace HeadMiner.Tests.Tensors;

[Collection(ResidentMemoryCollection.Name)]
public class ResidentMemoryTests
{
    /// <summary>
    /// A phase that touches 192 MiB reports a peak at least that far above the resident set it started from, and
    /// measuring it leaves the process-wide peak (what /usr/bin/time and the benchmarks read) where it was.
    /// </summary>
    [Fact]
    public void APhaseSeesMemoryItTouchesAndLeavesTheProcessPeakAlone()
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.Null(ResidentMemory.CurrentBytes());
            return;
        }
        const int bytes = 192 << 20;
        // Earlier tests' garbage returned to the system first, so the resident set does not shrink under the phase.
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        long start = ResidentMemory.CurrentBytes()!.Value;
        long processPeak = ResidentMemory.PeakBytes()!.Value;
        Assert.True(processPeak >= start);
        byte[] block;
        long? phase;
        using (var monitor = new ResidentMemory.PhasePeak())
        {
            block = GC.AllocateUninitializedArray<byte>(bytes);
            for (int i = 0; i < block.Length; i += 4096) block[i] = (byte)i; // touch every page
            phase = monitor.Bytes;
        }
        Assert.True(phase >= start + bytes * 3L / 4, $"phase peak {phase:N0} bytes; started at {start:N0}, touched {bytes:N0}");
        Assert.True(ResidentMemory.PeakBytes() >= Math.Max(processPeak, phase!.Value) - (1 << 20));
        GC.KeepAlive(block);
    }
}
