using HeadMiner.Cli;
using static HeadMiner.Tests.CliRunner;

namespace HeadMiner.Tests;

public class CliShellTests
{
    [Fact]
    public void HelpListsSubcommandsAndSucceeds()
    {
        var (code, output, _) = Run("--help");
        Assert.Equal(0, code);
        Assert.Contains("atlas", output);
    }

    [Fact]
    public void UnknownSubcommandIsUsageErrorWithoutStackTrace()
    {
        var (code, _, err) = Run("no-such-command");
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("no-such-command", err);
        Assert.DoesNotContain("   at ", err);
    }
}
