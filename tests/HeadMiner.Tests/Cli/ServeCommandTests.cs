using HeadMiner.Cli;
using static HeadMiner.Tests.CliRunner;

namespace HeadMiner.Tests.Cli;

/// <summary>`headminer serve` refuses bad options before it binds anything (the server itself is tested in HeadMiner.Explorer.Tests).</summary>
public class ServeCommandTests
{
    [Theory]
    [InlineData("--port", "70000", "--port 70000 must be in 0..65535")]
    [InlineData("--timeout", "0", "--timeout 0 must be in (0, 3600] seconds")]
    [InlineData("--atlas", "b.json", "2 --atlas files for 1 --model paths")]
    public void BadOptionsAreUsageErrors(string option, string value, string message)
    {
        string model = TestPaths.SharedModel("stories260K");
        string[] args = option == "--atlas"
            ? ["serve", "-m", model, "--atlas", "a.json", "--atlas", value]
            : ["serve", "-m", model, option, value];
        var (code, _, err) = Run(args);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains(message, err);
    }

    [Fact]
    public void AMissingModelIsAnErrorNamingIt()
    {
        var (code, _, err) = Run("serve", "-m", "/nonexistent/model", "--port", "0");
        Assert.Equal(ExitCodes.Failure, code);
        Assert.Contains("/nonexistent/model", err);
    }

    [Fact]
    public void ACacheIdIsResolvedBeforeTheServerStartsAndAnUnknownOneNamesTheCache()
    {
        using var temp = TestPaths.NewTempDirectory();
        using var _ = CliEnvironment.Use(new Dictionary<string, string> { ["HF_HUB_CACHE"] = temp.Path });
        var (code, _, err) = Run("serve", "-m", "tiny/absent", "--port", "0");
        Assert.Equal(ExitCodes.Failure, code);
        Assert.Contains($"tiny/absent: no such file or directory, and not in the Hugging Face cache: searched {temp.Path} (from HF_HUB_CACHE)", err);
    }

    [Fact]
    public void ACachedModelKeepsItsRepoNameAsTheExplorerId()
    {
        using var temp = TestPaths.NewTempDirectory();
        var fake = new HeadMiner.Tests.Models.FakeHubCache(temp.Path);
        string snapshot = fake.AddSnapshot("tiny/llama", "3f1c2b9d0e4a5b6c7d8e9f00112233445566778a", TestPaths.Fixture("parity", "llama"));
        var models = HeadMiner.Explorer.ExplorerModel.LoadAll([new HeadMiner.Explorer.ExplorerModelSpec(snapshot, null, "llama")]);
        try
        {
            Assert.Equal("llama", Assert.Single(models).Id); // not the snapshot folder's commit hash
        }
        finally
        {
            foreach (var m in models) m.Dispose();
        }
    }
}
