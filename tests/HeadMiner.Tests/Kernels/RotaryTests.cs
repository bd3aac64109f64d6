using HeadMiner.Tensors.Kernels;
using HeadMiner.Tests.Reference;
using Ref = HeadMiner.Tests.Reference.ScalarKernels;

namespace HeadMiner.Tests.Kernels;

public class RotaryTests
{
    private const double Theta = 10000;

    private static (float[] Cos, float[] Sin) Tables(int maxPositions, int rotaryDim, double theta = Theta)
    {
        var inverse = Rotary.DefaultInverseFrequencies(rotaryDim, theta);
        var cos = new float[maxPositions * rotaryDim / 2];
        var sin = new float[cos.Length];
        Rotary.BuildTables(maxPositions, inverse, cos, sin);
        return (cos, sin);
    }

    [Fact]
    public void TablesHoldCosAndSinOfPositionTimesFrequency()
    {
        const int rotaryDim = 64, positions = 4096;
        var inverse = Rotary.DefaultInverseFrequencies(rotaryDim, 500000);
        for (int i = 0; i < inverse.Length; i++) Assert.Equal(1 / Math.Pow(500000, 2.0 * i / rotaryDim), inverse[i], 1e-15);
        var (cos, sin) = Tables(positions, rotaryDim, 500000);
        foreach (int p in new[] { 0, 1, 7, 1000, 4095 })
            for (int i = 0; i < rotaryDim / 2; i++)
            {
                double angle = p * Math.Pow(500000, -2.0 * i / rotaryDim);
                Assert.Equal((float)Math.Cos(angle), cos[p * rotaryDim / 2 + i]);
                Assert.Equal((float)Math.Sin(angle), sin[p * rotaryDim / 2 + i]);
            }
    }

    public static TheoryData<RotaryStyle, int, int, int> Layouts() => new()
    {
        // style, heads, headDim, rotaryDim
        { RotaryStyle.RotateHalf, 1, 2, 2 },
        { RotaryStyle.RotateHalf, 3, 64, 64 },
        { RotaryStyle.RotateHalf, 2, 128, 128 },
        { RotaryStyle.RotateHalf, 2, 80, 32 },   // partial rotary (Phi/NeoX style)
        { RotaryStyle.RotateHalf, 5, 7, 6 },     // odd head size, partial
        { RotaryStyle.RotateHalf, 1, 66, 34 },   // half = 17: vector body + scalar tail
        { RotaryStyle.Interleaved, 1, 2, 2 },
        { RotaryStyle.Interleaved, 3, 64, 64 },
        { RotaryStyle.Interleaved, 2, 80, 32 },
        { RotaryStyle.Interleaved, 5, 7, 6 },
    };

    [Theory]
    [MemberData(nameof(Layouts))]
    public void ApplyMatchesReferenceAndLeavesTheRestAlone(RotaryStyle style, int heads, int headDim, int rotaryDim)
    {
        const int tokens = 7, maxPositions = 2048;
        int rowStride = heads * headDim + 3; // padding after the heads must not be touched
        var x = Inputs.Normal((ulong)(headDim * 31 + rotaryDim), tokens * rowStride, std: 2f);
        int[] positions = [0, 1, 2, 17, 100, 1999, 2047];
        var (cos, sin) = Tables(maxPositions, rotaryDim);
        var expected = Ref.Rotary(Ref.ToDouble(x), tokens, rowStride, heads, headDim, rotaryDim, positions, Theta,
            interleaved: style == RotaryStyle.Interleaved, inverse: false);
        var original = (float[])x.Clone();
        Rotary.Apply(x, tokens, rowStride, heads, headDim, rotaryDim, cos, sin, positions, style);
        // Tables are float (as every implementation's): at position 2047 a table entry carries ~3e-8 of rounding.
        Close.Scaled(x, expected, rtol: 2e-6, what: $"rotary {style}");
        for (int t = 0; t < tokens; t++)
        {
            for (int h = 0; h < heads; h++)
                for (int d = rotaryDim; d < headDim; d++)
                    Assert.Equal(original[t * rowStride + h * headDim + d], x[t * rowStride + h * headDim + d]);
            for (int d = heads * headDim; d < rowStride; d++) Assert.Equal(original[t * rowStride + d], x[t * rowStride + d]);
        }
        Assert.Equal(original.AsSpan(0, rotaryDim).ToArray(), x.AsSpan(0, rotaryDim).ToArray()); // position 0: identity
    }

    [Theory]
    [MemberData(nameof(Layouts))]
    public void InverseUndoesApply(RotaryStyle style, int heads, int headDim, int rotaryDim)
    {
        const int tokens = 5;
        int rowStride = heads * headDim;
        var x = Inputs.Normal(77, tokens * rowStride);
        var original = (float[])x.Clone();
        int[] positions = [3, 9, 500, 1023, 64];
        var (cos, sin) = Tables(1024, rotaryDim);
        Rotary.Apply(x, tokens, rowStride, heads, headDim, rotaryDim, cos, sin, positions, style);
        Assert.NotEqual(original, x);
        Rotary.Apply(x, tokens, rowStride, heads, headDim, rotaryDim, cos, sin, positions, style, inverse: true);
        Close.Scaled(x, Ref.ToDouble(original), rtol: 1e-6, what: "round trip");
    }

    [Theory]
    [InlineData(RotaryStyle.RotateHalf), InlineData(RotaryStyle.Interleaved)]
    public void InverseIsTheBackwardPass(RotaryStyle style)
    {
        // L = Σ dy·R(x); dL/dx by central differences on the reference must equal Apply(dy, inverse: true).
        const int tokens = 3, heads = 2, headDim = 10, rotaryDim = 8, rowStride = heads * headDim;
        int[] positions = [5, 0, 77];
        var x = Ref.ToDouble(Inputs.Normal(88, tokens * rowStride));
        var dy = Inputs.Normal(89, tokens * rowStride);
        var numeric = Ref.FiniteDifferenceGradient(x, Ref.ToDouble(dy),
            v => Ref.Rotary(v, tokens, rowStride, heads, headDim, rotaryDim, positions, Theta, style == RotaryStyle.Interleaved, inverse: false));
        var (cos, sin) = Tables(128, rotaryDim);
        Rotary.Apply(dy, tokens, rowStride, heads, headDim, rotaryDim, cos, sin, positions, style, inverse: true);
        Close.Scaled(dy, numeric, rtol: 1e-5, what: "rotary backward");
    }

    [Theory]
    [InlineData(RotaryStyle.RotateHalf), InlineData(RotaryStyle.Interleaved)]
    public void NaNAndInfinityStayInTheirPair(RotaryStyle style)
    {
        const int headDim = 32;
        var (cos, sin) = Tables(16, headDim);
        var x = Inputs.Normal(90, 2 * headDim);
        x[3] = float.NaN;                        // token 0 (position 5), pair 3
        x[headDim + 4] = float.PositiveInfinity; // token 1 (position 9), pair 4 (angle 9·θ^(−8/32), sin ≠ 0)
        Rotary.Apply(x, 2, headDim, 1, headDim, headDim, cos, sin, [5, 9], style);
        int Partner(int i) => style == RotaryStyle.RotateHalf ? i + headDim / 2 : i + 1;
        for (int t = 0; t < 2; t++)
        {
            int special = t == 0 ? 3 : 4;
            int first = style == RotaryStyle.Interleaved ? special - special % 2 : special; // the pair's first element
            for (int d = 0; d < headDim; d++)
            {
                float v = x[t * headDim + d];
                bool inPair = d == first || d == Partner(first);
                // NaN pairs become NaN; an ∞ meeting finite cos/sin stays infinite in both slots.
                Assert.True(inPair ? (t == 0 ? float.IsNaN(v) : float.IsInfinity(v)) : float.IsFinite(v), $"token {t} dim {d} = {v}");
            }
        }
    }

    [Fact]
    public void PositionOutsideTheTableIsAnErrorNamingTheToken()
    {
        var (cos, sin) = Tables(16, 8);
        var x = new float[3 * 8];
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Rotary.Apply(x, 3, 8, 1, 8, 8, cos, sin, [0, 16, 1], RotaryStyle.RotateHalf));
        Assert.Contains("token 1", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => Rotary.Apply(x, 3, 8, 1, 8, 7, cos, sin, [0, 1, 2], RotaryStyle.RotateHalf));
    }
}
