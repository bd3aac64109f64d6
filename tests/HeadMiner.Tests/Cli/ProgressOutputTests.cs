using HeadMiner.Cli;
using HeadMiner.Training;

namespace HeadMiner.Tests.Cli;

/// <summary>
/// Progress goes to a terminal in place ('\r') and anywhere else as whole lines, about ten per run, so a log of a
/// redirected run holds no carriage returns.
/// </summary>
public class ProgressOutputTests
{
    [Fact]
    public void OnlyTheProcesssOwnStderrOnATerminalIsWrittenInPlace()
    {
        Assert.False(ProgressOutput.InPlace(new StringWriter()));
        Assert.False(ProgressOutput.InPlace(Console.Out));
        Assert.Equal(!Console.IsErrorRedirected, ProgressOutput.InPlace(Console.Error));
    }

    [Fact]
    public void RedirectedSweepProgressIsElevenWholeLines()
    {
        var writer = new StringWriter();
        var progress = new ConsoleProgress(writer, "patching", inPlace: false);
        for (int i = 0; i <= 1000; i++) progress.Report(i / 1000.0);
        string text = writer.ToString();
        Assert.DoesNotContain('\r', text);
        Assert.Equal(Enumerable.Range(0, 11).Select(t => $"patching {10 * t,3}%"), text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')));
    }

    [Fact]
    public void TerminalSweepProgressRewritesOneLine()
    {
        var writer = new StringWriter();
        var progress = new ConsoleProgress(writer, "patching", inPlace: true);
        for (int i = 0; i <= 1000; i++) progress.Report(i / 1000.0);
        string text = writer.ToString();
        Assert.DoesNotContain('\n', text);
        Assert.Equal(101, text.Count(c => c == '\r') - 1); // one per percent, and one after 100%
    }

    [Fact]
    public void RedirectedTrainingProgressIsOneLinePerTenthOfTheSteps()
    {
        var writer = new StringWriter();
        var progress = new TrainingProgressLine(writer, inPlace: false);
        var eval = new Dictionary<string, double> { ["all"] = 2.5 };
        for (int step = 1; step <= 500; step++) progress.Report(new TrainingProgress(step, 500, 3.0, 1000, step == 250 ? eval : null));
        string text = writer.ToString();
        Assert.DoesNotContain('\r', text);
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        // Step 1 (0%), then the first step of each further tenth: 50, 100, …, 500.
        Assert.Equal([1, 50, 100, 150, 200, 250, 300, 350, 400, 450, 500], lines.Select(l => int.Parse(l.Split(' ')[1].Split('/')[0], System.Globalization.CultureInfo.InvariantCulture)));
        Assert.EndsWith("held-out all=2.50", lines[5]);
    }

    [Fact]
    public void TerminalTrainingProgressRewritesOneLineEveryTenSteps()
    {
        var writer = new StringWriter();
        var progress = new TrainingProgressLine(writer, inPlace: true);
        for (int step = 1; step <= 95; step++) progress.Report(new TrainingProgress(step, 95, 3.0, 1000, null));
        string text = writer.ToString();
        Assert.DoesNotContain('\n', text);
        Assert.Equal(10, text.Count(c => c == '\r')); // steps 10, 20, …, 90 and the last
    }
}
