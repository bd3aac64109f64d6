using HeadMiner.Cli;
using static HeadMiner.Tests.CliRunner;

namespace HeadMiner.Tests.Cli;

/// <summary>
/// Every command that writes files checks --out before any work: the model named here does not exist, so a command
/// that looked at its model (or ran a detector) first would report that instead of the output location.
/// </summary>
public class OutputLocationTests
{
    private const string MissingModel = "/nonexistent/headminer-model";

    public static TheoryData<string[]> DirectoryCommands => new()
    {
        new[] { "atlas", "-m", MissingModel },
        new[] { "patch", "-m", MissingModel, "--pairs", "pairs.json" },
        new[] { "path-patch", "-m", MissingModel, "--pairs", "pairs.json", "--receivers", "logits" },
        new[] { "verify", "-m", MissingModel },
        new[] { "attrib-patch", "-m", MissingModel, "--pairs", "pairs.json" },
        new[] { "ablate", "-m", MissingModel, "--pairs", "pairs.json" },
        new[] { "dla", "-m", MissingModel, "--prompt", "Lily", "--answer", " was" },
        new[] { "probe", "-m", MissingModel, "--set", "set.json" },
        new[] { "train", "--steps", "1" },
    };

    [Theory]
    [MemberData(nameof(DirectoryCommands))]
    public void AnOutputThatIsAFileIsAUsageErrorNamingIt(string[] args)
    {
        using var dir = TestPaths.NewTempDirectory();
        string file = dir.File("taken");
        File.WriteAllText(file, "not a directory");
        var (code, _, err) = Run([.. args, "-o", file]);
        Assert.True(code == ExitCodes.Usage, err);
        Assert.Equal($"error: --out {file}: is a file; give a directory for the outputs", err.Trim());
        Assert.Equal("not a directory", File.ReadAllText(file));
    }

    [Theory]
    [MemberData(nameof(DirectoryCommands))]
    public void AnOutputBelowAFileNamesTheFile(string[] args)
    {
        using var dir = TestPaths.NewTempDirectory();
        File.WriteAllText(dir.File("taken"), "");
        string below = Path.Combine(dir.File("taken"), "results");
        var (code, _, err) = Run([.. args, "-o", below]);
        Assert.True(code == ExitCodes.Usage, err);
        Assert.Equal($"error: --out {below}: {dir.File("taken")} is a file, not a directory", err.Trim());
    }

    [Theory]
    [MemberData(nameof(DirectoryCommands))]
    public void AnOutputThatCannotBeCreatedIsAFailureNamingIt(string[] args)
    {
        using var dir = TestPaths.NewTempDirectory();
        // A name longer than any file system allows (255 bytes): creation fails even for root, on every platform.
        string tooLong = Path.Combine(dir.Path, new string('x', 300));
        var (code, _, err) = Run([.. args, "-o", tooLong]);
        Assert.True(code == ExitCodes.Failure, err);
        Assert.StartsWith($"error: --out {tooLong}: cannot create the directory", err.Trim());
        Assert.Single(err.Trim().Split('\n'));
    }

    [Fact]
    public void AFailedCommandRemovesTheEmptyFoldersItCreatedAndNothingElse()
    {
        using var dir = TestPaths.NewTempDirectory();
        string nested = Path.Combine(dir.Path, "a", "b");
        var (code, _, err) = Run("dla", "-m", MissingModel, "--prompt", "Lily", "--answer", " was", "-o", nested);
        Assert.True(code == ExitCodes.Failure, err);
        Assert.Contains(MissingModel, err); // past the output check, the model is what fails
        Assert.False(Directory.Exists(Path.Combine(dir.Path, "a")), "a/ and a/b/ were created by the failed run");

        // A folder that was there before is kept, empty or not; only the part this run created goes.
        Directory.CreateDirectory(dir.File("kept"));
        File.WriteAllText(dir.File("earlier.txt"), "");
        Directory.CreateDirectory(dir.File("full"));
        File.WriteAllText(Path.Combine(dir.File("full"), "earlier.json"), "{}");
        foreach (string output in new[] { dir.File("kept"), Path.Combine(dir.File("full"), "new") })
        {
            (code, _, err) = Run("dla", "-m", MissingModel, "--prompt", "Lily", "--answer", " was", "-o", output);
            Assert.True(code == ExitCodes.Failure, err);
        }
        Assert.True(Directory.Exists(dir.File("kept")));
        Assert.Equal([Path.Combine(dir.File("full"), "earlier.json")], Directory.GetFileSystemEntries(dir.File("full")));
    }

    [Fact]
    public void ASuccessfulCommandKeepsItsOutputFolder()
    {
        using var dir = TestPaths.NewTempDirectory();
        string nested = Path.Combine(dir.Path, "a", "b");
        var (code, _, err) = Run("tasks", "generate", "repeated_tokens", "--count", "3", "-o", Path.Combine(nested, "set.json"));
        Assert.True(code == ExitCodes.Success, err);
        Assert.True(File.Exists(Path.Combine(nested, "set.json")));
    }

    [Fact]
    public void ATaskSetFileMustNotBeADirectoryAndIsCheckedBeforeTheModel()
    {
        using var dir = TestPaths.NewTempDirectory();
        var (code, _, err) = Run("tasks", "generate", "ioi", "-m", MissingModel, "-o", dir.Path);
        Assert.True(code == ExitCodes.Usage, err);
        Assert.Equal($"error: --out {dir.Path}: is a directory; give a file name", err.Trim());
        File.WriteAllText(dir.File("taken"), "");
        string below = Path.Combine(dir.File("taken"), "ioi.json");
        (code, _, err) = Run("tasks", "generate", "ioi", "-m", MissingModel, "-o", below);
        Assert.True(code == ExitCodes.Usage, err);
        Assert.Equal($"error: --out {below}: {dir.File("taken")} is a file, not a directory", err.Trim());
    }
}
