using HeadMiner.Training;

namespace HeadMiner.Cli;

/// <summary>
/// `train`'s status on stderr: step, loss, throughput, last held-out losses. In place on a terminal (rewritten every
/// 10 steps); otherwise a whole line each time another <see cref="ProgressOutput.LinePercentStep"/>% of the steps is
/// done, so a log gets about ten lines per run.
/// </summary>
public sealed class TrainingProgressLine(TextWriter writer, bool inPlace) : IProgress<TrainingProgress>
{
    private string _eval = "";
    private int _lastTenth = -1;

    public TrainingProgressLine(TextWriter writer) : this(writer, ProgressOutput.InPlace(writer))
    {
    }

    public void Report(TrainingProgress p)
    {
        if (p.Eval is { } eval) _eval = "held-out " + string.Join(" ", eval.Select(kv => $"{kv.Key}={kv.Value:F2}"));
        int width = 24, filled = (int)(width * p.Step / Math.Max(p.Steps, 1));
        string status = $"[{new string('#', filled)}{new string('.', width - filled)}] {p.Step}/{p.Steps} loss {p.Loss:F3} {p.TokensPerSecond:N0} tok/s {_eval}";
        if (inPlace)
        {
            if (p.Step % 10 != 0 && p.Step != p.Steps && p.Eval is null) return;
            writer.Write($"\r{status}   ");
            return;
        }
        int step = ProgressOutput.LinePercentStep;
        int reached = (int)(100L * p.Step / Math.Max(p.Steps, 1)) / step;
        if (reached == _lastTenth) return;
        _lastTenth = reached;
        writer.WriteLine(status.TrimEnd());
    }
}
