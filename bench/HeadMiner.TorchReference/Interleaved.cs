using System.Diagnostics;

namespace HeadMiner.TorchReference;

/// <summary>
/// Timing on a shared machine: the contenders take turns within every round (ours, then each reference), so a busy
/// spell hits them alike, and each ratio is taken within a round before the median is. One untimed warm-up round first.
/// </summary>
public static class Interleaved
{
    /// <summary>Per contender, the wall time of each round in milliseconds.</summary>
    public static double[][] Time(int rounds, params Action[] contenders)
    {
        foreach (var c in contenders) c();
        var times = contenders.Select(_ => new double[rounds]).ToArray();
        for (int r = 0; r < rounds; r++)
            for (int i = 0; i < contenders.Length; i++)
            {
                long t0 = Stopwatch.GetTimestamp();
                contenders[i]();
                times[i][r] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            }
        return times;
    }

    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        if (sorted.Length == 0) return double.NaN;
        int mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }

    /// <summary>Median over rounds of ours[r] / reference[r].</summary>
    public static double MedianRatio(double[] ours, double[] reference) => Median(ours.Zip(reference, (a, b) => a / b));

    /// <summary>"min–max" of the per-round ratios, to show how much the machine moved.</summary>
    public static string RatioRange(double[] ours, double[] reference)
    {
        var r = ours.Zip(reference, (a, b) => a / b).ToArray();
        return $"{r.Min():F2}–{r.Max():F2}";
    }
}
