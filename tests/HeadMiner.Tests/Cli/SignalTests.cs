using System.Text.RegularExpressions;
using HeadMiner.Cli;

namespace HeadMiner.Tests.Cli;

/// <summary>
/// SIGINT and SIGTERM sent to the real `headminer` process while it works: the command stops within the test's
/// patience, exits 130 or 143 with one "interrupted" line and no internal error, and leaves whole files only — no
/// temporary file, an earlier atlas.json untouched, train's checkpoint resumable from the step it names.
/// </summary>
public class SignalTests
{
    [Theory]
    [InlineData(CliProcess.SIGINT, ExitCodes.Interrupted, "SIGINT")]
    [InlineData(CliProcess.SIGTERM, ExitCodes.Terminated, "SIGTERM")]
    public void AStoppedAtlasLeavesTheEarlierAtlasAsItWas(int signal, int expectedCode, string name)
    {
        using var dir = TestPaths.NewTempDirectory();
        string outDir = Path.Combine(dir.Path, "atlas");
        Directory.CreateDirectory(outDir);
        string earlier = Path.Combine(outDir, "atlas.json");
        File.WriteAllText(earlier, "{\"earlier\": true}\n");

        using var cli = CliProcess.Start(dir.Path, "atlas", "-o", outDir);
        // The first finished detector: the model is loaded and the detectors are running (the rest take a minute).
        cli.WaitForLine(line => line.Contains(": done in", StringComparison.Ordinal));
        cli.Signal(signal);
        int code = cli.WaitForExit();

        Assert.True(code == expectedCode, $"exit {code}; stderr:\n{cli.Stderr}");
        var interrupted = cli.Stderr.Split('\n').Where(l => l.StartsWith("interrupted", StringComparison.Ordinal)).ToArray();
        Assert.Single(interrupted);
        Assert.Matches(new Regex($@"^interrupted \({name}\): atlas stopped after \d+ of 21 detectors; nothing written$"), interrupted[0]);
        Assert.DoesNotContain("internal error", cli.Stderr);
        Assert.Equal("{\"earlier\": true}\n", File.ReadAllText(earlier));
        Assert.Equal("atlas.json", Path.GetFileName(Assert.Single(Directory.GetFiles(outDir))));
    }

    [Fact]
    public void AStoppedTrainingRunResumesFromItsCheckpointAndStopsAgain()
    {
        using var dir = TestPaths.NewTempDirectory();
        string outDir = Path.Combine(dir.Path, "run");
        int stoppedAt;
        using (var cli = CliProcess.Start(dir.Path, "train", "--preset", "repeats", "--steps", "5000", "-o", outDir))
        {
            cli.WaitForLine(line => line.Contains("/5000 loss", StringComparison.Ordinal));
            cli.Signal(CliProcess.SIGTERM);
            int code = cli.WaitForExit();
            Assert.True(code == ExitCodes.Terminated, $"exit {code}; stderr:\n{cli.Stderr}");
            var match = Regex.Match(cli.Stderr, $@"^interrupted \(SIGTERM\): train stopped at step (\d+) of 5000; checkpoint written to {Regex.Escape(outDir)}; continue with: headminer train --preset repeats -o {Regex.Escape(outDir)} --resume$", RegexOptions.Multiline);
            Assert.True(match.Success, cli.Stderr);
            Assert.DoesNotContain("internal error", cli.Stderr);
            stoppedAt = int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            Assert.InRange(stoppedAt, 1, 4999);
        }
        Assert.Empty(Directory.GetFiles(outDir, "*.tmp"));

        // The checkpoint is whole: the run resumes at the step the message named, and stops again on Ctrl+C.
        using (var cli = CliProcess.Start(dir.Path, "train", "--preset", "repeats", "-o", outDir, "--resume"))
        {
            cli.WaitForLine(line => line.Contains("/5000 loss", StringComparison.Ordinal));
            cli.Signal(CliProcess.SIGINT);
            int code = cli.WaitForExit();
            Assert.True(code == ExitCodes.Interrupted, $"exit {code}; stderr:\n{cli.Stderr}");
            Assert.Contains($"resuming {outDir} at step {stoppedAt} of 5000", cli.Stdout);
            Assert.Matches(new Regex(@"^interrupted \(SIGINT\): train stopped at step \d+ of 5000; checkpoint written to ", RegexOptions.Multiline), cli.Stderr);
        }
        Assert.Empty(Directory.GetFiles(outDir, "*.tmp"));
    }

    [Fact]
    public void ServeStopsOnSigtermLikeUnderSystemdDockerOrKubernetes()
    {
        using var dir = TestPaths.NewTempDirectory();
        using var cli = CliProcess.Start(dir.Path, "serve", "--port", "0");
        cli.WaitForLine(line => line.StartsWith("HeadMiner explorer at http://127.0.0.1:", StringComparison.Ordinal));
        cli.Signal(CliProcess.SIGTERM);
        int code = cli.WaitForExit();
        Assert.True(code == ExitCodes.Terminated, $"exit {code}; stderr:\n{cli.Stderr}");
        Assert.Equal("interrupted (SIGTERM): serve stopped; no request was in flight", cli.Stderr.Trim());
    }
}
