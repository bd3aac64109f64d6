using HeadMiner.Tensors.Kernels;

namespace HeadMiner.Models;

/// <summary>
/// cos/sin tables [position, rotaryDim/2] for a model's rotary embedding: inverse frequencies θ^(−2i/d), optionally
/// reshaped by Llama-3 scaling. Grown on demand so a 128k-context model does not pay for positions it never sees.
/// </summary>
public sealed class RotaryTables
{
    private readonly double[] _inverseFrequencies;
    private float[] _cos = [], _sin = [];
    private int _positions;
    private readonly Lock _lock = new();

    public int RotaryDim { get; }

    public RotaryTables(int rotaryDim, double theta, RopeScaling? scaling)
    {
        RotaryDim = rotaryDim;
        _inverseFrequencies = InverseFrequencies(rotaryDim, theta, scaling);
    }

    public ReadOnlySpan<double> Frequencies => _inverseFrequencies;

    public static double[] InverseFrequencies(int rotaryDim, double theta, RopeScaling? scaling)
    {
        int half = rotaryDim / 2;
        var f = Tensors.Kernels.Rotary.DefaultInverseFrequencies(rotaryDim, theta);
        if (scaling is null) return f;
        // Llama 3: long wavelengths are slowed by `factor`, short ones kept, the band between interpolated.
        double lowWavelength = scaling.OriginalMaxPositions / scaling.LowFreqFactor;
        double highWavelength = scaling.OriginalMaxPositions / scaling.HighFreqFactor;
        for (int i = 0; i < half; i++)
        {
            double wavelength = 2 * Math.PI / f[i];
            if (wavelength > lowWavelength) f[i] /= scaling.Factor;
            else if (wavelength >= highWavelength)
            {
                double smooth = (scaling.OriginalMaxPositions / wavelength - scaling.LowFreqFactor) / (scaling.HighFreqFactor - scaling.LowFreqFactor);
                f[i] = (1 - smooth) * f[i] / scaling.Factor + smooth * f[i];
            }
        }
        return f;
    }

    /// <summary>Tables covering positions [0, positions).</summary>
    public (float[] Cos, float[] Sin) For(int positions)
    {
        lock (_lock)
        {
            if (positions > _positions)
            {
                int n = Math.Max(positions, Math.Min(2 * _positions, positions + 4096));
                int half = RotaryDim / 2;
                var cos = new float[n * half];
                var sin = new float[n * half];
                Tensors.Kernels.Rotary.BuildTables(n, _inverseFrequencies, cos, sin);
                (_cos, _sin, _positions) = (cos, sin, n);
            }
            return (_cos, _sin);
        }
    }

    public void Apply(Span<float> x, int tokens, int rowStride, int heads, int headDim, ReadOnlySpan<int> positions, RotaryStyle style)
    {
        int max = 0;
        foreach (int p in positions) max = Math.Max(max, p);
        var (cos, sin) = For(max + 1);
        Rotary.Apply(x, tokens, rowStride, heads, headDim, RotaryDim, cos, sin, positions, style);
    }
}
