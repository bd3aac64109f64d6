using HeadMiner.Cli;

namespace HeadMiner.Tests;

public class CliShellTests
{
    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = CliApp.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

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
