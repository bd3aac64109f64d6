using HeadMiner.Tensors;

namespace HeadMiner.Tests.Formats;

public class AtomicFileTests
{
    [Fact]
    public void WritesAndReplacesWholeFiles()
    {
        using var dir = TestPaths.NewTempDirectory();
        string path = dir.File("out.txt");
        AtomicFile.WriteAllText(path, "first");
        Assert.Equal("first", File.ReadAllText(path));
        AtomicFile.WriteAllBytes(path, [1, 2, 3]);
        Assert.Equal([1, 2, 3], File.ReadAllBytes(path));
        AtomicFile.Write(path, s => s.Write("ünï"u8));
        Assert.Equal("ünï", File.ReadAllText(path));
        Assert.Equal(["out.txt"], Directory.GetFiles(dir.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void FailureMidWriteLeavesTargetUntouchedAndNoTempFile()
    {
        using var dir = TestPaths.NewTempDirectory();
        string path = dir.File("keep.bin");
        AtomicFile.WriteAllText(path, "original");
        var e = Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(path, s =>
        {
            s.Write(new byte[100_000]);
            throw new InvalidOperationException("boom");
        }));
        Assert.Equal("boom", e.Message);
        Assert.Equal("original", File.ReadAllText(path));
        Assert.Equal(["keep.bin"], Directory.GetFiles(dir.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void MissingDirectoryIsAHeadMinerError()
    {
        using var dir = TestPaths.NewTempDirectory();
        string path = Path.Combine(dir.Path, "no-such-dir", "x.txt");
        var e = Assert.Throws<HeadMinerException>(() => AtomicFile.WriteAllText(path, "x"));
        Assert.Contains(path, e.Message);
    }
}
