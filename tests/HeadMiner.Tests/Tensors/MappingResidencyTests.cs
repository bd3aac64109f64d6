using HeadMiner.Tensors;

namespace HeadMiner.Tests.Tensors;

public class MappingResidencyTests
{
    // Two mappings as Linux 6.18 prints them: a file mapping partly in 2 MiB pages, then an anonymous one.
    private static readonly string[] Smaps =
    [
        "7f3a00000000-7f3a1dab3000 r--s 00000000 fe:00 1311 /tmp/m/model.safetensors",
        "Size:             486092 kB",
        "KernelPageSize:        4 kB",
        "Rss:              401408 kB",
        "Pss:              401408 kB",
        "AnonHugePages:         0 kB",
        "FilePmdMapped:    399360 kB",
        "Locked:                0 kB",
        "THPeligible:    0",
        "VmFlags: rd sh mr mw me ms sd hg",
        "7f3a1e000000-7f3a1e600000 rw-p 00000000 00:00 0 ",
        "Size:               6144 kB",
        "Rss:                4096 kB",
        "AnonHugePages:      4096 kB",
        "FilePmdMapped:         0 kB",
        "VmFlags: rd wr mr mw me ac sd",
    ];

    private static MappingResidency? At(ulong address) => MappingResidency.Parse(Smaps, (lo, hi, _) => address >= lo && address < hi);

    [Fact]
    public void ReadsTheMappingThatHoldsTheAddress()
    {
        var file = At(0x7f3a00123456);
        Assert.NotNull(file);
        Assert.Equal(0x1dab3000L, file.SizeBytes);
        Assert.Equal(401408L * 1024, file.ResidentBytes);
        Assert.Equal(399360L * 1024, file.HugePageBytes);
        Assert.True(file.AdvisedHugePages);
        Assert.Equal("392 of 474 MiB resident, 390 MiB of it in 2 MiB pages", file.ToString());

        var anon = At(0x7f3a1e5fffff);
        Assert.NotNull(anon);
        Assert.Equal(6L << 20, anon.SizeBytes);
        Assert.Equal(4L << 20, anon.HugePageBytes);
        Assert.False(anon.AdvisedHugePages);
    }

    [Fact]
    public void SumsEveryMappingOfAFile()
    {
        string[] twice = [.. Smaps.Take(10), .. Smaps.Take(10).Select(l => l.Replace("7f3a00000000-7f3a1dab3000", "7f3b00000000-7f3b00200000"))];
        var file = MappingResidency.Parse(twice, (_, _, path) => path == "/tmp/m/model.safetensors");
        Assert.NotNull(file);
        Assert.Equal(0x1dab3000L + (2 << 20), file.SizeBytes);
        Assert.Equal(2 * 401408L * 1024, file.ResidentBytes);
        Assert.Equal(2 * 399360L * 1024, file.HugePageBytes);
        Assert.Null(MappingResidency.Parse(Smaps, (_, _, path) => path == "/tmp/m/other.safetensors"));
    }

    [Fact]
    public void AnAddressNoMappingHoldsGivesNull()
    {
        Assert.Null(At(0x7f3a1e600000)); // one past the last mapping's end
        Assert.Null(At(0x7f3a1dab3000)); // in the gap between them
        Assert.Null(MappingResidency.Parse([], (_, _, _) => true));
    }

    /// <summary>
    /// A mapped checkpoint is advised MADV_HUGEPAGE where Linux offers huge pages on request, so pages read in from
    /// then on come as 2 MiB folios; what it touched shows as resident. Whether the file system caches the file in
    /// 2 MiB folios is its own business (ext4 since Linux 6.16 does), so the 2 MiB share is not asserted here.
    /// </summary>
    [Fact]
    public void AMappedFileIsAdvisedForHugePagesAndReportsWhatIsResident()
    {
        using var dir = TestPaths.NewTempDirectory();
        string path = dir.File("weights.bin");
        var data = new byte[(6 << 20) + 4099];
        new Random(3).NextBytes(data);
        AtomicFile.WriteAllBytes(path, data);
        using var mapped = new MappedFile(path);
        long sum = 0;
        foreach (byte b in mapped.Bytes(0, data.Length)) sum += b;
        Assert.Equal(data.Sum(b => (long)b), sum);

        var residency = mapped.ResidentPages();
        if (!OperatingSystem.IsLinux())
        {
            Assert.Null(residency);
            return;
        }
        Assert.NotNull(residency);
        Assert.True(residency.SizeBytes >= data.Length, residency.ToString());
        Assert.True(residency.ResidentBytes > 0 && residency.ResidentBytes <= residency.SizeBytes, residency.ToString());
        Assert.True(residency.HugePageBytes <= residency.ResidentBytes, residency.ToString());
        var byPath = MappingResidency.OfFile(path);
        Assert.NotNull(byPath);
        Assert.Equal(residency.SizeBytes, byPath.SizeBytes); // the only mapping of the file
        string mode = File.ReadAllText("/sys/kernel/mm/transparent_hugepage/enabled");
        if (mode.Contains("[madvise]") || mode.Contains("[always]")) Assert.True(residency.AdvisedHugePages, residency.VmFlags);
        else Assert.False(residency.AdvisedHugePages, residency.VmFlags);
    }

    [Fact]
    public void ADisposedMappingHasNoResidency()
    {
        using var dir = TestPaths.NewTempDirectory();
        string path = dir.File("w.bin");
        AtomicFile.WriteAllBytes(path, new byte[8192]);
        var mapped = new MappedFile(path);
        mapped.Dispose();
        Assert.Throws<ObjectDisposedException>(() => mapped.ResidentPages());
    }
}
