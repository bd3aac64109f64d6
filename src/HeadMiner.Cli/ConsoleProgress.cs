namespace HeadMiner.Cli;

/// <summary>
/// Progress on stderr, reported synchronously (System.Progress posts to the thread pool, so its lines arrive after
/// the work is done). In place (<see cref="ProgressOutput.InPlace"/>): one line rewritten at most once per percent, so
/// a fast loop does not flood the terminal. Otherwise: a whole line every <see cref="ProgressOutput.LinePercentStep"/>
/// percent.
/// </summary>
public sealed class ConsoleProgress(TextWriter writer, string label, bool inPlace) : IProgress<double>
{
    private int _lastPercent = -1;

    public ConsoleProgress(TextWriter writer, string label) : this(writer, label, ProgressOutput.InPlace(writer))
    {
    }

    public void Report(double fraction)
    {
        int percent = (int)Math.Clamp(fraction * 100, 0, 100);
        if (!inPlace) percent -= percent % ProgressOutput.LinePercentStep;
        if (percent == _lastPercent) return;
        _lastPercent = percent;
        if (!inPlace)
        {
            writer.WriteLine($"{label} {percent,3}%");
            return;
        }
        writer.Write($"\r{label} {percent,3}%");
        if (percent == 100) writer.Write('\r');
    }
}
