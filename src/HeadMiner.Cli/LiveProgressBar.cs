using Spectre.Console;

namespace HeadMiner.Cli;

/// <summary>
/// The one bar a <see cref="ProgressDisplay"/> draws on a terminal: how far the work is (0 to 1) and what it is
/// doing now (shown after the work's label). Lines written through <see cref="Line"/> appear above the bar, which
/// stays at the bottom.
/// </summary>
public sealed class LiveProgressBar(IAnsiConsole console, ProgressTask task, string label)
{
    public void Update(double fraction, string? description = null)
    {
        task.Value = Math.Clamp(double.IsFinite(fraction) ? fraction : 0, 0, 1);
        if (description is not null) task.Description = Markup.Escape(TerminalText.Escape($"{label}: {description}"));
    }

    public void Line(string text) => console.WriteLine(TerminalText.Escape(text));
}
