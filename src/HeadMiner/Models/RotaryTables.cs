using HeadMiner.Tensors.Kernels;

namespace HeadMiner.Models;

/// <summary>
/// cos/sin tables [position, rotaryDim/2] for a model's rotary embedding: inverse frequencies θ^(−2i/d), optionally
/// reshaped by Llama-3 scaling or LongRoPE. Grown on demand so a 128k-context model does not pay for positions it
/// never sees. LongRoPE keeps two sets (short and long factors) because which one a pass uses depends on its length.
/// </summary>
public sealed class RotaryTables
{
    private readonly double[] _inverseFrequencies;
    private readonly double[]? _longFrequencies;
    private readonly LongRopeScaling? _longRope;
    private Table _short = new([], [], 0), _long = new([], [], 0);
    private readonly Lock _lock = new();

    private sealed record Table(float[] Cos, float[] Sin, int Positions);

    public int RotaryDim { get; }

    /// <param name="linearFactor">rope_scaling type "linear": every inverse frequency divided by it (1 = none).</param>
    public RotaryTables(int rotaryDim, double theta, RopeScaling? scaling, LongRopeScaling? longRope = null, double linearFactor = 1)
    {
        RotaryDim = rotaryDim;
        _longRope = longRope;
        if (longRope is null)
        {
            _inverseFrequencies = InverseFrequencies(rotaryDim, theta, scaling);
            if (linearFactor != 1)
                for (int i = 0; i < _inverseFrequencies.Length; i++) _inverseFrequencies[i] /= linearFactor;
        }
        else
        {
            _inverseFrequencies = longRope.InverseFrequencies(rotaryDim, theta, longRope.OriginalMaxPositions);
            _longFrequencies = longRope.InverseFrequencies(rotaryDim, theta, longRope.OriginalMaxPositions + 1);
        }
    }

    /// <summary>The inverse frequencies of a pass within the original context (LongRoPE's short factors).</summary>
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

    /// <summary>
    /// Tables covering positions [0, positions), for a forward pass whose largest position is positions − 1 (with
    /// LongRoPE, that length picks the short or the long factors).
    /// </summary>
    public (float[] Cos, float[] Sin) For(int positions)
    {
        lock (_lock)
        {
            bool useLong = _longRope?.UsesLongFactors(positions) ?? false;
            var table = useLong ? _long : _short;
            if (positions > table.Positions)
            {
                int n = Math.Max(positions, Math.Min(2 * table.Positions, positions + 4096));
                int half = RotaryDim / 2;
                var cos = new float[n * half];
                var sin = new float[n * half];
                Tensors.Kernels.Rotary.BuildTables(n, useLong ? _longFrequencies! : _inverseFrequencies, cos, sin);
                // LongRoPE's attention factor multiplies cos and sin (Hugging Face scales its tables the same way), so
                // the rotation becomes a rotation times a constant; its transpose is still the inverse-angle call.
                if (_longRope is { AttentionFactor: not 1.0 } lr)
                {
                    for (int i = 0; i < cos.Length; i++)
                    {
                        cos[i] = (float)(cos[i] * lr.AttentionFactor);
                        sin[i] = (float)(sin[i] * lr.AttentionFactor);
                    }
                }
                table = new Table(cos, sin, n);
                if (useLong) _long = table;
                else _short = table;
            }
            return (table.Cos, table.Sin);
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
