namespace HeadMiner.Analysis.Detectors;

/// <summary>
/// What a detector's scores are a function of, unit by unit (a prompt, a passage, a probe token, a successor step), so
/// that the scores can be recomputed on any reweighting of the units without another forward pass:
/// <see cref="Rescore"/>(w) gives every head's score (layer-major) when unit u counts w[u] times. Weights of all ones
/// give the detector's own scores; bootstrap resamples give its intervals (<see cref="ScoreIntervals"/>).
/// </summary>
/// <param name="Unit">What one unit is, plural ("prompts", "passages", "probe tokens").</param>
/// <param name="Count">Number of units.</param>
/// <param name="GrowsWithPrompts">Whether running with more <see cref="DetectorOptions.Prompts"/> gives more units (a fixed text set does not).</param>
/// <param name="Rescore">Scores (layer-major, NaN where a head is not scored) under unit weights of length <see cref="Count"/>.</param>
public sealed record ScoreSamples(string Unit, int Count, bool GrowsWithPrompts, Func<double[], double[]> Rescore)
{
    /// <summary>Most bootstrap resamples worth their cost for this detector (null: <see cref="DetectorOptions.Resamples"/>).</summary>
    public int? MaxResamples { get; init; }

    /// <summary>score = Σ_u w_u·num[u][k] / Σ_u w_u·den[u][k] (a ratio of sums, as the pattern scores are).</summary>
    public static ScoreSamples Ratio(string unit, double[][] numerator, double[][] denominator, bool grows) =>
        new(unit, numerator.Length, grows, w =>
        {
            int k = numerator[0].Length;
            var num = new double[k];
            var den = new double[k];
            for (int u = 0; u < w.Length; u++)
            {
                if (w[u] == 0) continue;
                for (int i = 0; i < k; i++)
                {
                    num[i] += w[u] * numerator[u][i];
                    den[i] += w[u] * denominator[u][i];
                }
            }
            for (int i = 0; i < k; i++) num[i] = den[i] > 0 ? num[i] / den[i] : 0;
            return num;
        });

    /// <summary>score = weighted mean over units of values[u][k].</summary>
    public static ScoreSamples Mean(string unit, double[][] values, bool grows) =>
        new(unit, values.Length, grows, w => WeightedMean(values, w));

    /// <summary>score = (weighted mean of a) × (weighted mean of b), per head (e.g. mean DLA × mean attention).</summary>
    public static ScoreSamples ProductOfMeans(string unit, double[][] a, double[][] b, bool grows) =>
        new(unit, a.Length, grows, w =>
        {
            var ma = WeightedMean(a, w);
            var mb = WeightedMean(b, w);
            for (int i = 0; i < ma.Length; i++) ma[i] *= mb[i];
            return ma;
        });

    public static double[] WeightedMean(double[][] values, double[] w)
    {
        int k = values[0].Length;
        var sum = new double[k];
        double total = 0;
        for (int u = 0; u < w.Length; u++)
        {
            if (w[u] == 0) continue;
            total += w[u];
            for (int i = 0; i < k; i++) sum[i] += w[u] * values[u][i];
        }
        for (int i = 0; i < k; i++) sum[i] = total > 0 ? sum[i] / total : double.NaN;
        return sum;
    }
}
