using Spectre.Console;

namespace HeadMiner.Cli;

/// <summary>
/// How a long command (atlas, patching sweeps, path patching, ablation, probing, training) shows its progress on stderr. On a terminal
/// (<see cref="ProgressOutput.InPlace"/>: the process's own stderr, not redirected) a Spectre.Console bar redrawn in
/// place: what runs now, the bar, the percentage, the elapsed time and an estimate of the time left. Anywhere else —
/// a file, a pipe, CI, a test's writer — plain whole lines at a low rate (<see cref="ConsoleProgress"/>,
/// <see cref="TrainingProgressLine"/>, the atlas's per-detector lines), so a log holds no control characters.
/// </summary>
public static class ProgressDisplay
{
    /// <summary>Runs <paramref name="work"/>, which reports a fraction done (0 to 1), under <paramref name="label"/>.</summary>
    public static T Run<T>(TextWriter stderr, string label, Func<IProgress<double>, T> work) =>
        Run(stderr, label, () => new ConsoleProgress(stderr, label, inPlace: false), bar => new FractionReports(bar), work);

    /// <summary>
    /// Runs <paramref name="work"/> with the progress sink for where stderr goes: <paramref name="plain"/> (whole
    /// lines) when it is not a terminal, else one that drives the live bar (<paramref name="live"/>).
    /// </summary>
    public static T Run<TReport, T>(TextWriter stderr, string label, Func<IProgress<TReport>> plain, Func<LiveProgressBar, IProgress<TReport>> live,
        Func<IProgress<TReport>, T> work)
    {
        if (!ProgressOutput.InPlace(stderr)) return work(plain());
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        return RunLive(console, label, live, work);
    }

    /// <summary>The terminal form on any console (tests give one that writes into a string).</summary>
    internal static T RunLive<TReport, T>(IAnsiConsole console, string label, Func<LiveProgressBar, IProgress<TReport>> live, Func<IProgress<TReport>, T> work) =>
        new Progress(console) { AutoClear = false, HideCompleted = false }
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                new ElapsedTimeColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(context =>
            {
                var task = context.AddTask(Markup.Escape(TerminalText.Escape(label)), autoStart: true, maxValue: 1);
                var result = work(live(new LiveProgressBar(console, task, label)));
                // Work that ends early (a sweep of fewer cells than announced, a resumed run) still ends at 100%.
                task.Value = task.MaxValue;
                return result;
            });

    /// <summary>A fraction done moves the bar.</summary>
    private sealed class FractionReports(LiveProgressBar bar) : IProgress<double>
    {
        public void Report(double fraction) => bar.Update(fraction);
    }
}
