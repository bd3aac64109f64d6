using static HeadMiner.Tests.CliRunner;

namespace HeadMiner.Tests.Cli;

/// <summary>Every command that writes files writes into a folder named after it by default, never the current folder.</summary>
public class DefaultOutputFolderTests
{
    [Theory]
    [InlineData("atlas")]
    [InlineData("patch")]
    [InlineData("path-patch")]
    [InlineData("verify")]
    [InlineData("attrib-patch")]
    [InlineData("ablate")]
    [InlineData("dla")]
    [InlineData("probe")]
    [InlineData("train")]
    public void TheHelpShowsTheCommandsOwnFolder(string command)
    {
        var (code, output, _) = Run(command, "--help");
        Assert.Equal(0, code);
        string line = output.Split('\n').Single(l => l.TrimStart().StartsWith("-o, --out", StringComparison.Ordinal));
        Assert.EndsWith($"[default: {command}]", line.TrimEnd());
    }

    [Fact]
    public void WithoutOutDlaWritesIntoDlaInTheCurrentFolder()
    {
        // A child process, because the current folder is process-wide and other tests run in parallel.
        using var dir = TestPaths.NewTempDirectory();
        using var cli = CliProcess.Start(dir.Path, "dla", "-m", TestPaths.SharedModel("stories260K"), "--prompt", "Lily was happy. Lily was", "--answer", " happy");
        int code = cli.WaitForExit();
        Assert.True(code == 0, cli.Stderr);
        Assert.Equal(["dla"], Directory.GetFileSystemEntries(dir.Path).Select(Path.GetFileName).OfType<string>().ToArray());
        Assert.True(File.Exists(Path.Combine(dir.Path, "dla", "dla.json")));
        Assert.True(File.Exists(Path.Combine(dir.Path, "dla", "dla_heads.csv")));
    }
}
