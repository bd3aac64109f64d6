using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using HeadMiner.Tensors;

namespace HeadMiner.Tests.Tensors;

public class HugePageArraysTests
{
    private const int Large = 3 << 20; // 12 MiB of floats: holds at least four aligned 2 MiB pages

    [Fact]
    public void ZeroedLargeArraysAreZeroEvenOnMemoryTheCollectorHandsBack()
    {
        // Dirty large arrays, dropped: the collector may give their memory to the next large allocation uncleared.
        for (int round = 0; round < 4; round++)
        {
            var dirty = HugePageArrays.Uninitialized(Large);
            dirty.AsSpan().Fill(float.NaN);
            GC.KeepAlive(dirty);
            dirty = null;
            GC.Collect();
            var zeroed = HugePageArrays.Zeroed(Large);
            Assert.Equal(Large, zeroed.Length);
            Assert.Equal(-1, zeroed.AsSpan().IndexOfAnyExcept(0f));
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(1000)]
    public void SmallArraysHaveTheirLengthAndZeroedOnesAreZero(int length)
    {
        Assert.Equal(length, HugePageArrays.Uninitialized(length).Length);
        var zeroed = HugePageArrays.Zeroed(length);
        Assert.Equal(length, zeroed.Length);
        Assert.Equal(-1, zeroed.AsSpan().IndexOfAnyExcept(0f));
    }

    /// <summary>
    /// Where Linux offers huge pages on request (THP "madvise" mode), the interior of a large array lies in a mapping
    /// advised MADV_HUGEPAGE ("hg" in its VmFlags); where it does not, there is nothing to advise. A small array is
    /// not advised (it sits in the collector's small-object regions, whose flags must stay as they are).
    /// </summary>
    [Fact]
    public unsafe void LargeArraysAreAdvisedForHugePagesWhereTheSystemOffersThemOnRequest()
    {
        string mode = File.Exists("/sys/kernel/mm/transparent_hugepage/enabled") ? File.ReadAllText("/sys/kernel/mm/transparent_hugepage/enabled") : "";
        bool onRequest = OperatingSystem.IsLinux() && mode.Contains("[madvise]");
        var array = HugePageArrays.Uninitialized(Large);
        nint middle = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(array)) + (nint)Large * 2;
        string? flags = VmFlagsAt(middle);
        if (onRequest)
        {
            Assert.NotNull(flags);
            Assert.Contains(" hg", " " + flags);
        }
        else if (OperatingSystem.IsLinux() && mode.Contains("[never]"))
        {
            Assert.DoesNotContain(" hg", " " + flags); // the advice failed or was skipped: nothing changed
        }
        GC.KeepAlive(array);
    }

    /// <summary>
    /// An aligned buffer has exactly its length, holds what is written to all of it, and where huge pages are offered
    /// on request starts on a 2 MiB boundary in a mapping advised MADV_HUGEPAGE at both ends, so no part of it
    /// faults per 4 KiB. Small lengths are plain arrays.
    /// </summary>
    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    [InlineData(Large)]
    [InlineData(Large + 12_345)]
    public unsafe void AlignedBuffersStartOnAHugePageBoundaryWhereTheSystemOffersThemOnRequest(int length)
    {
        string mode = File.Exists("/sys/kernel/mm/transparent_hugepage/enabled") ? File.ReadAllText("/sys/kernel/mm/transparent_hugepage/enabled") : "";
        bool onRequest = OperatingSystem.IsLinux() && mode.Contains("[madvise]");
        var memory = HugePageArrays.UninitializedAligned(length);
        Assert.Equal(length, memory.Length);
        var span = memory.Span;
        for (int i = 0; i < span.Length; i++) span[i] = i;
        for (int i = 0; i < span.Length; i += 4099) Assert.Equal((float)i, span[i]);
        if (length > 0) Assert.Equal((float)(length - 1), span[^1]);
        if (onRequest && (long)length * sizeof(float) >= HugePageArrays.MinBytes)
        {
            nint first = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetReference(span));
            Assert.Equal(0, first % (2 << 20));
            Assert.Contains(" hg", " " + VmFlagsAt(first));
            Assert.Contains(" hg", " " + VmFlagsAt(first + (nint)((long)length * sizeof(float)) - 1));
        }
        GC.KeepAlive(memory);
    }

    /// <summary>The VmFlags line of the /proc/self/smaps mapping that holds <paramref name="address"/>, or null.</summary>
    private static string? VmFlagsAt(nint address)
    {
        if (!File.Exists("/proc/self/smaps")) return null;
        bool inside = false;
        foreach (var line in File.ReadLines("/proc/self/smaps"))
        {
            // A mapping's header starts "lo-hi perms …" (hex bounds); its fields follow, VmFlags last.
            string first = line.Split(' ', 2)[0];
            int dash = first.IndexOf('-');
            if (dash > 0
                && ulong.TryParse(first.AsSpan(0, dash), System.Globalization.NumberStyles.HexNumber, null, out ulong lo)
                && ulong.TryParse(first.AsSpan(dash + 1), System.Globalization.NumberStyles.HexNumber, null, out ulong hi))
            {
                inside = (ulong)address >= lo && (ulong)address < hi;
                continue;
            }
            if (inside && line.StartsWith("VmFlags:", StringComparison.Ordinal)) return line["VmFlags:".Length..].Trim();
        }
        return null;
    }
}
