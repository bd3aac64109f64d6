namespace HeadMiner.Cli;

/// <summary>
/// Progress on stderr, reported synchronously (System.Progress posts to the thread pool, so its lines arrive after
/// the work is done), and at most once per percent so a fast loop does not flood the terminal.
/// </summary>
public sealed class ConsoleProgress(TextWriter writer, string label) : IProgress<double>
{
    private int _lastPercent = -1;

    public void Report(double fraction)
    {
        int percent = (int)Math.Clamp(fraction * 100, 0, 100);
        if (percent == _lastPercent) return;
        _lastPercent = percent;
        writer.Write($"\r{label} {percent,3}%");
        if (percent == 100) writer.Write('\r');
    }
}
