using System.Runtime.InteropServices;
using HeadMiner.Cli;

namespace HeadMiner.Tests.Cli;

/// <summary>
/// A stop requested in-process at a known point of the work (when a given progress line is written), so the state it
/// leaves is exact: which detector the atlas stopped after, that a sweep stopped part-way wrote nothing, the exit code
/// of each signal. The real signals are SignalTests' job.
/// </summary>
public class StopRequestTests
{
    [Fact]
    public void AnAtlasStoppedAfterItsSecondDetectorSaysSoAndWritesNothing()
    {
        using var dir = TestPaths.NewTempDirectory();
        using var stop = new StopSignals();
        var stderr = new TriggerWriter(line => line.StartsWith("[2/3] ", StringComparison.Ordinal) && line.Contains(": done in", StringComparison.Ordinal),
            () => stop.Request(PosixSignal.SIGTERM));
        var stdout = new StringWriter();
        int code = CliApp.Run(["atlas", "-d", "previous_token,duplicate_token,induction", "-o", dir.Path], stdout, stderr, stop);
        string err = stderr.ToString();
        Assert.True(code == ExitCodes.Terminated, err);
        Assert.EndsWith("interrupted (SIGTERM): atlas stopped after 2 of 3 detectors; nothing written\n", err.ReplaceLineEndings("\n"));
        Assert.DoesNotContain("[3/3]", err);
        Assert.Empty(Directory.GetFileSystemEntries(dir.Path));
    }

    [Fact]
    public void APatchingSweepStoppedPartWayWritesNothing()
    {
        using var dir = TestPaths.NewTempDirectory();
        File.WriteAllText(dir.File("pairs.json"), """
            {"version": 1, "task": "demo", "pairs": [
             {"clean": "Lily was happy. Lily was", "corrupted": "Lily was little. Lily was", "answer": " happy", "wrong": " little"}]}
            """);
        string outDir = dir.File("out");
        using var stop = new StopSignals();
        // Progress lines come every 10% (stderr is not a terminal): stop at the first one past 0%.
        var stderr = new TriggerWriter(line => line.StartsWith("patching", StringComparison.Ordinal) && !line.EndsWith(" 0%", StringComparison.Ordinal),
            () => stop.Request(PosixSignal.SIGINT));
        int code = CliApp.Run(["patch", "-m", TestPaths.SharedModel("stories260K"), "--pairs", dir.File("pairs.json"), "--target", "resid_pre", "-o", outDir], new StringWriter(), stderr, stop);
        string err = stderr.ToString();
        Assert.True(code == ExitCodes.Interrupted, err);
        Assert.EndsWith("interrupted (SIGINT): patch stopped; nothing written\n", err.ReplaceLineEndings("\n"));
        Assert.DoesNotContain("patching 100%", err);
        Assert.False(Directory.Exists(outDir), "the stopped run created --out and wrote nothing into it, so it removes the folder too");
    }

    [Fact]
    public void AStopThatComesFirstStopsTrainingAtStepZeroWithAResumableCheckpoint()
    {
        using var dir = TestPaths.NewTempDirectory();
        using var stop = new StopSignals();
        stop.Request(PosixSignal.SIGINT);
        Assert.False(stop.Request(PosixSignal.SIGTERM)); // the first signal decides the exit code
        var stderr = new StringWriter();
        int code = CliApp.Run(["train", "--preset", "repeats", "--steps", "40", "-o", dir.Path], new StringWriter(), stderr, stop);
        Assert.True(code == ExitCodes.Interrupted, stderr.ToString());
        Assert.Equal($"interrupted (SIGINT): train stopped at step 0 of 40; checkpoint written to {dir.Path}; continue with: headminer train --preset repeats -o {dir.Path} --resume",
            stderr.ToString().Trim());
        var (resumed, output, err) = CliRunner.Run("train", "--preset", "repeats", "-o", dir.Path, "--resume");
        Assert.True(resumed == ExitCodes.Success, err);
        Assert.Contains($"resuming {dir.Path} at step 0 of 40", output);
    }

    [Fact]
    public void DetectStoppedBeforeItsFirstDetectorPrintsNoTable()
    {
        using var stop = new StopSignals();
        stop.Request(PosixSignal.SIGTERM);
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = CliApp.Run(["detect", "-d", "previous_token,induction"], stdout, stderr, stop);
        Assert.True(code == ExitCodes.Terminated, stderr.ToString());
        var lines = stderr.ToString().Trim().Split('\n').Select(l => l.TrimEnd('\r')).ToArray();
        Assert.Equal("interrupted (SIGTERM): detect stopped after 0 of 2 detectors; nothing printed", lines[^1]);
        Assert.All(lines[..^1], l => Assert.StartsWith("note: ", l)); // only the load's notes (the BOS choice) before it
        Assert.Equal("", stdout.ToString());
    }

    /// <summary>A captured stderr that runs an action when a line matching a condition is written.</summary>
    private sealed class TriggerWriter(Func<string, bool> when, Action then) : StringWriter
    {
        public override void WriteLine(string? value)
        {
            base.WriteLine(value);
            if (value is not null && when(value)) then();
        }
    }
}
