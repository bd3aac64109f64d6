using HeadMiner.Cli;
using Spectre.Console;
using static HeadMiner.Tests.CliRunner;

namespace HeadMiner.Tests.Cli;

/// <summary>
/// Long commands show a live bar (Spectre.Console) on a terminal and plain whole lines anywhere else: a redirected
/// run's log holds no carriage returns or escape sequences.
/// </summary>
public class ProgressDisplayTests
{
    private const string Pairs = """
        {"version": 1, "task": "demo", "pairs": [
         {"clean": "w3 w17 w40 w9 w3 w17", "corrupted": "w5 w22 w61 w9 w5 w22", "answer": " w40", "wrong": " w61"}]}
        """;

    [Fact]
    public void AnyWriterButATerminalGetsPlainLinesAndTheWorksResult()
    {
        var writer = new StringWriter();
        int result = ProgressDisplay.Run(writer, "sweeping", progress =>
        {
            for (int i = 0; i <= 97; i++) progress.Report(i / 97.0);
            return 41;
        });
        Assert.Equal(41, result);
        string text = writer.ToString();
        Assert.DoesNotContain('\r', text);
        Assert.DoesNotContain('\x1b', text);
        Assert.Equal(Enumerable.Range(0, 11).Select(t => $"sweeping {10 * t,3}%"), text.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public void ATerminalGetsABarWithElapsedTimeAndAnEstimateAndLinesAboveIt()
    {
        var writer = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.Yes,
            Interactive = InteractionSupport.Yes,
            ColorSystem = ColorSystemSupport.NoColors,
            Out = new AnsiConsoleOutput(writer),
        });
        int result = ProgressDisplay.RunLive<int, int>(console, "patching [z]", bar => new SyncProgress<int>(i =>
        {
            bar.Update(i / 10.0, $"cell {i} of 10");
            if (i == 5) bar.Line("half way: L1H3 done");
        }), progress =>
        {
            for (int i = 1; i <= 10; i++)
            {
                progress.Report(i);
                Thread.Sleep(30);
            }
            return 10;
        });
        Assert.Equal(10, result);
        string text = writer.ToString();
        Assert.Contains("patching [z]: cell 10 of 10", text); // the label (markup characters shown as they are), then what runs now
        Assert.Contains("100%", text);
        Assert.Matches(@"00:00:0\d", text); // elapsed (and remaining) time
        Assert.Contains("half way: L1H3 done", text);
        Assert.Contains('\x1b', text); // drawn in place with escape sequences, unlike the plain form
    }

    [Fact]
    public void RedirectedPathPatchingPrintsWholePercentLines()
    {
        using var dir = TestPaths.NewTempDirectory();
        File.WriteAllText(dir.File("pairs.json"), Pairs);
        var (code, _, err) = Run("path-patch", "--pairs", dir.File("pairs.json"), "--receivers", "logits", "-o", dir.Path);
        Assert.True(code == 0, err);
        var lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith("path patching", StringComparison.Ordinal)).ToList();
        Assert.Equal("path patching 100%", lines[^1]);
        Assert.True(lines.Count >= 2, err);
        Assert.DoesNotContain('\r', err);
        Assert.DoesNotContain('\x1b', err);
    }

    [Fact]
    public void RedirectedAblationPrintsWholePercentLinesRisingTo100()
    {
        using var dir = TestPaths.NewTempDirectory();
        File.WriteAllText(dir.File("pairs.json"), Pairs);
        var (code, _, err) = Run("ablate", "--pairs", dir.File("pairs.json"), "--kind", "mean", "-o", dir.Path);
        Assert.True(code == 0, err);
        AssertRisingPercentLines(err, "ablating heads");
    }

    [Fact]
    public void RedirectedProbingPrintsWholePercentLinesRisingTo100()
    {
        using var dir = TestPaths.NewTempDirectory();
        File.WriteAllText(dir.File("set.json"), """
            {"version": 1, "task": "mood", "examples": [
             {"prompt": "Lily was happy. She", "label": 1}, {"prompt": "Tom was happy. He", "label": 1}, {"prompt": "The dog was happy. It", "label": 1},
             {"prompt": "Lily was sad. She", "label": 0}, {"prompt": "Tom was sad. He", "label": 0}, {"prompt": "The dog was sad. It", "label": 0},
             {"prompt": "Ben was glad. He", "label": 1}, {"prompt": "Ben was angry. He", "label": 0}, {"prompt": "Sue was glad. She", "label": 1}]}
            """);
        var (code, _, err) = Run("probe", "-m", TestPaths.SharedModel("stories260K"), "--set", dir.File("set.json"), "-o", dir.Path);
        Assert.True(code == 0, err);
        AssertRisingPercentLines(err, "probing heads");
    }

    /// <summary>Whole lines "LABEL  NN%", strictly rising in steps of ten, ending at 100%, with no control characters.</summary>
    private static void AssertRisingPercentLines(string err, string label)
    {
        var percents = err.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith(label, StringComparison.Ordinal))
            .Select(l => int.Parse(l[label.Length..].TrimEnd('%'), System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.True(percents.Count >= 3, err);
        Assert.Equal(100, percents[^1]);
        Assert.All(percents, p => Assert.Equal(0, p % 10));
        Assert.Equal(percents.Order().Distinct(), percents);
        Assert.DoesNotContain('\r', err);
        Assert.DoesNotContain('\x1b', err);
    }

    /// <summary>Reports on the caller's thread (System.Progress would post them to the thread pool).</summary>
    private sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
