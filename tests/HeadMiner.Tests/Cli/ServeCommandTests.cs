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
}
