using HeadMiner.Cli;

namespace HeadMiner.Tests;

/// <summary>Runs the `headminer` command line in-process and captures what it printed.</summary>
internal static class CliRunner
{
    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = CliApp.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }
}
