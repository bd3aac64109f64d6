using HeadMiner.Training;

namespace HeadMiner.Cli;

/// <summary>`train`'s live bar on a terminal: steps done, and the loss, throughput and last held-out losses beside it.</summary>
public sealed class TrainingProgressBar(LiveProgressBar bar) : IProgress<TrainingProgress>
{
    private string _eval = "";

    public void Report(TrainingProgress p)
    {
        if (p.Eval is { } eval) _eval = " held-out " + string.Join(" ", eval.Select(kv => $"{kv.Key}={kv.Value:F2}"));
        bar.Update((double)p.Step / Math.Max(p.Steps, 1), $"step {p.Step}/{p.Steps} loss {p.Loss:F3} {p.TokensPerSecond:N0} tok/s{_eval}");
    }
}
