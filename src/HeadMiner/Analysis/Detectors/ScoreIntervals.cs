using HeadMiner.Tensors;

namespace HeadMiner.Analysis.Detectors;

/// <summary>
/// Per-head 95% intervals by the percentile bootstrap over a detector's units (<see cref="ScoreSamples"/>): draw as
/// many units as there are, with replacement, recompute every head's score, repeat; the interval is the 2.5th and
/// 97.5th percentile of the recomputed scores. Seeded, so equal seeds give equal intervals. With one unit there is
/// nothing to resample and the interval is the score itself.
/// </summary>
public static class ScoreIntervals
{
    public const double Confidence = 0.95;

    /// <summary>[layers, heads] lower and upper bounds (NaN where the score is NaN).</summary>
    public static (Tensor Low, Tensor High) Bootstrap(ScoreSamples samples, int layers, int heads, int resamples, ulong seed)
    {
        int k = layers * heads, n = samples.Count;
        var point = samples.Rescore(Ones(n));
        if (point.Length != k) throw new InvalidOperationException($"{point.Length} rescored heads for {layers}×{heads}");
        var low = Tensor.Zeros(layers, heads);
        var high = Tensor.Zeros(layers, heads);
        if (n < 2)
        {
            for (int i = 0; i < k; i++) low.Span[i] = high.Span[i] = (float)point[i];
            return (low, high);
        }
        var draws = new double[k][];
        for (int i = 0; i < k; i++) draws[i] = new double[resamples];
        var random = new SeededRandom(seed ^ 0xB0075B4Au);
        var w = new double[n];
        for (int r = 0; r < resamples; r++)
        {
            Array.Clear(w);
            for (int u = 0; u < n; u++) w[random.NextInt(n)] += 1;
            var s = samples.Rescore(w);
            for (int i = 0; i < k; i++) draws[i][r] = s[i];
        }
        double tail = (1 - Confidence) / 2;
        for (int i = 0; i < k; i++)
        {
            if (double.IsNaN(point[i]))
            {
                low.Span[i] = high.Span[i] = float.NaN;
                continue;
            }
            var d = draws[i];
            Array.Sort(d);
            low.Span[i] = (float)Quantile(d, tail);
            high.Span[i] = (float)Quantile(d, 1 - tail);
        }
        return (low, high);
    }

    /// <summary>Linear interpolation between order statistics of a sorted array.</summary>
    public static double Quantile(double[] sorted, double q)
    {
        double at = q * (sorted.Length - 1);
        int i = (int)Math.Floor(at);
        if (i >= sorted.Length - 1) return sorted[^1];
        return sorted[i] + (at - i) * (sorted[i + 1] - sorted[i]);
    }

    private static double[] Ones(int n)
    {
        var w = new double[n];
        Array.Fill(w, 1.0);
        return w;
    }
}
