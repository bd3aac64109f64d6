namespace HeadMiner.Analysis.Truth;

/// <summary>
/// A positional attention score built from rotary frequencies alone: a constant query (1, 0) and a constant key
/// (cos sθ_f, sin sθ_f) in each of the first rotary pairs f give, after rotation by positions i and j, the score
/// K_s(Δ) = Σ_f cos(θ_f (Δ − s)), Δ = i − j. It peaks at Δ = s; <see cref="Gap"/> is how far it stays above every
/// other offset 0 ≤ Δ &lt; the context (rotary frequencies are at most 1 rad per position, so the peak is broad and the
/// gap is below 1 per pair: planted heads multiply it up).
/// </summary>
public sealed class RotaryKernel
{
    private readonly double[] _theta;

    /// <param name="inverseFrequencies">θ_f of the pairs used (the model's, highest first).</param>
    /// <param name="shift">The offset s where the score peaks.</param>
    /// <param name="context">Offsets 0 … context − 1 are checked.</param>
    public RotaryKernel(IReadOnlyList<double> inverseFrequencies, int shift, int context)
    {
        _theta = [.. inverseFrequencies];
        Shift = shift;
        double peak = Score(shift), max = double.NegativeInfinity, min = double.PositiveInfinity;
        for (int d = 0; d < context; d++)
        {
            if (d == shift) continue;
            double k = Score(d);
            max = Math.Max(max, k);
            min = Math.Min(min, k);
        }
        Peak = peak;
        Gap = peak - max;
        OtherMax = max;
        OtherMin = min;
    }

    public int Shift { get; }
    public double Peak { get; }

    /// <summary>Peak minus the largest score at any other offset.</summary>
    public double Gap { get; }
    public double OtherMax { get; }
    public double OtherMin { get; }

    /// <summary>K_s(Δ).</summary>
    public double Score(int delta)
    {
        double sum = 0;
        foreach (double t in _theta) sum += Math.Cos(t * (delta - Shift));
        return sum;
    }

    /// <summary>The key's (real, imaginary) components in pair f (rotate-half: dims f and f + d_head/2) for a query (1, 0).</summary>
    public (float Real, float Imaginary) Key(int pair) => ((float)Math.Cos(Shift * _theta[pair]), (float)Math.Sin(Shift * _theta[pair]));
}
