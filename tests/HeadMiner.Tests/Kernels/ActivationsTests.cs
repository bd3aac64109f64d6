using HeadMiner.Tensors.Kernels;
using HeadMiner.Tests.Reference;
using Ref = HeadMiner.Tests.Reference.ScalarKernels;

namespace HeadMiner.Tests.Kernels;

public class ActivationsTests
{
    public delegate void Forward(ReadOnlySpan<float> x, Span<float> y);

    public delegate void Backward(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx);

    private static (Forward Fast, Func<double, double> Reference, Backward FastGrad, Func<double, double> Derivative) Kernel(string name) => name switch
    {
        "GeluTanh" => (Activations.GeluTanh, Ref.GeluTanh, Activations.GeluTanhBackward, Ref.GeluTanhDerivative),
        "GeluErf" => (Activations.GeluErf, Ref.GeluErf, Activations.GeluErfBackward, Ref.GeluErfDerivative),
        "Silu" => (Activations.Silu, Ref.Silu, Activations.SiluBackward, Ref.SiluDerivative),
        _ => throw new ArgumentException(name),
    };

    public static TheoryData<string, int> KernelsAndSizes()
    {
        var data = new TheoryData<string, int>();
        foreach (var name in new[] { "GeluTanh", "GeluErf", "Silu" })
            foreach (int n in Inputs.Sizes) data.Add(name, n);
        return data;
    }

    private static float[] TestInputs(ulong seed, int n)
    {
        // Mostly N(0, 3²), plus a sweep over [−30, 30] when there is room: both tails matter (tiny GELU values,
        // saturated sigmoids).
        var x = Inputs.Normal(seed, n, std: 3f);
        if (n >= 127) Inputs.Sweep(-30f, 30f, Math.Min(n, 1001)).CopyTo(x, 0);
        return x;
    }

    [Theory]
    [MemberData(nameof(KernelsAndSizes))]
    public void ForwardMatchesReference(string name, int n)
    {
        var (fast, reference, _, _) = Kernel(name);
        var x = TestInputs((ulong)n, n);
        var expected = x.Select(v => reference(v)).ToArray();
        var y = new float[n];
        fast(x, y);
        Close.Elementwise(y, expected, what: name);
        fast(x, x); // in place gives the same bits
        Assert.Equal(y, x);
    }

    [Theory]
    [MemberData(nameof(KernelsAndSizes))]
    public void BackwardMatchesReference(string name, int n)
    {
        var (_, _, fastGrad, derivative) = Kernel(name);
        var x = TestInputs(1000 + (ulong)n, n);
        var dy = Inputs.Normal(2000 + (ulong)n, n);
        var expected = x.Select((v, i) => dy[i] * derivative(v)).ToArray();
        var dx = new float[n];
        fastGrad(x, dy, dx);
        Close.Elementwise(dx, expected, what: name + " backward");
        fastGrad(x, dy, dy); // dx over dy
        Assert.Equal(dx, dy);
    }

    [Theory]
    [InlineData("GeluTanh"), InlineData("GeluErf"), InlineData("Silu")]
    public void ReferenceDerivativeMatchesFiniteDifferences(string name)
    {
        var (_, reference, _, derivative) = Kernel(name);
        foreach (double x in Inputs.Sweep(-9f, 9f, 181).Select(v => (double)v + 0.0123))
        {
            const double h = 1e-5;
            double numeric = (reference(x + h) - reference(x - h)) / (2 * h);
            Assert.True(Math.Abs(numeric - derivative(x)) <= 1e-8 * (1 + Math.Abs(numeric)), $"{name}'({x}) = {derivative(x)}, finite differences {numeric}");
        }
    }

    [Theory]
    [InlineData("GeluTanh"), InlineData("GeluErf"), InlineData("Silu")]
    public void SpecialValues(string name)
    {
        var (fast, _, fastGrad, _) = Kernel(name);
        float[] x = [float.NaN, float.PositiveInfinity, float.NegativeInfinity, -200f, 200f, 0f, -0f, 1f, 2f];
        var y = new float[x.Length];
        fast(x, y);
        Assert.True(float.IsNaN(y[0]));
        Assert.Equal(float.PositiveInfinity, y[1]);
        Assert.Equal(0f, y[2]);
        Assert.Equal(0f, y[3]); // underflows to −0: equal to 0 and not NaN
        Assert.Equal(200f, y[4]);
        Assert.Equal(0f, y[5]);
        var dx = new float[x.Length];
        fastGrad(x, Enumerable.Repeat(1f, x.Length).ToArray(), dx);
        Assert.True(float.IsNaN(dx[0]));
        Assert.Equal(1f, dx[1]);
        Assert.Equal(0f, dx[2]);
        Assert.Equal(0f, dx[3]);
        Assert.Equal(1f, dx[4]);
    }

    [Fact]
    public void GeluErfKeepsRelativeAccuracyInTheLeftTail()
    {
        // x·Φ(x) for x = −12 is about −2e-32: computing 1 + erf(x/√2) would return 0 (or noise).
        float[] x = [-5f, -8f, -10f, -12f, -13f];
        var y = new float[x.Length];
        Activations.GeluErf(x, y);
        Close.Elementwise(y, x.Select(v => Ref.GeluErf(v)).ToArray(), rtol: 1e-6, what: "gelu tail");
        Assert.All(y, v => Assert.True(v < 0));
    }

    [Fact]
    public void GeluTanhIsAccurateOnBothSidesOfItsFloatAndDoubleSplit()
    {
        // Float from −3 up (relative error ≤ 3e-6 there), double below, where the values get tiny (−10 gives ~1e-36).
        var x = Inputs.Sweep(-10.5f, 12f, 150_001);
        var y = new float[x.Length];
        Activations.GeluTanh(x, y);
        var floatSide = x.Select((v, i) => (v, i)).Where(p => p.v >= -3f).ToArray();
        var doubleSide = x.Select((v, i) => (v, i)).Where(p => p.v < -3f).ToArray();
        Close.Elementwise(floatSide.Select(p => y[p.i]).ToArray(), floatSide.Select(p => Ref.GeluTanh(p.v)).ToArray(), rtol: 3e-6, what: "gelu_new from −3");
        Close.Elementwise(doubleSide.Select(p => y[p.i]).ToArray(), doubleSide.Select(p => Ref.GeluTanh(p.v)).ToArray(), rtol: 1e-6, what: "gelu_new below −3");
        Assert.All(doubleSide, p => Assert.True(y[p.i] < 0));
    }

    [Fact]
    public void FloatGeluErfIsAccurateToAFewUlpsEverywhere()
    {
        // Dense sweep over every regime of the float path: series (|x| < √2), both erfc fits, the underflowing tail.
        var x = Inputs.Sweep(-13f, 10f, 200_001);
        var y = new float[x.Length];
        Activations.GeluErf(x, y);
        Close.Elementwise(y, x.Select(v => Ref.GeluErf(v)).ToArray(), rtol: 1e-6, what: "gelu");
    }

    [Fact]
    public void ErfIsWithin1e7OfAHighPrecisionReference()
    {
        var x = Inputs.Sweep(-7f, 7f, 20001);
        var y = new float[x.Length];
        Activations.Erf(x, y);
        for (int i = 0; i < x.Length; i++)
            Assert.True(Math.Abs(y[i] - Ref.Erf(x[i])) <= 1e-7, $"erf({x[i]}) = {y[i]}, expected {Ref.Erf(x[i])}");
    }

    [Fact]
    public void DoubleErfAndNormalCdfAreAccurateFarBeyondFloat()
    {
        // The double kernels behind GELU, against the independent series/continued-fraction reference, including
        // the far left tail where only relative error means anything. Each side carries ~1e-15 of rounding.
        foreach (double x in Inputs.Sweep(-6f, 6f, 2401).Select(v => (double)v + 1e-4))
            Assert.True(Math.Abs(Activations.Erf(x) - Ref.Erf(x)) <= 3e-15, $"erf({x}) = {Activations.Erf(x)}, expected {Ref.Erf(x)}");
        foreach (double x in Inputs.Sweep(-37f, 5f, 4201).Select(v => (double)v + 1e-4))
        {
            double expected = Ref.NormalCdf(x);
            Assert.True(Math.Abs(Activations.NormalCdf(x) - expected) <= 1e-12 * expected, $"Φ({x}) = {Activations.NormalCdf(x)}, expected {expected}");
        }
    }

    [Theory]
    [InlineData(0.1, 0.1124629160182849), InlineData(0.5, 0.5204998778130465), InlineData(1.0, 0.8427007929497149),
        InlineData(1.5, 0.9661051464753108), InlineData(2.0, 0.9953222650189527), InlineData(3.0, 0.9999779095030014)]
    public void ReferenceErfMatchesPublishedValues(double x, double erf)
    {
        Assert.Equal(erf, Ref.Erf(x), 1e-15);
        Assert.Equal(-erf, Ref.Erf(-x), 1e-15);
    }

    [Theory]
    [InlineData(1.0, 0.15729920705028513), InlineData(3.0, 2.2090496998585438e-05), InlineData(5.0, 1.5374597944280351e-12),
        InlineData(7.0, 4.183825607779414e-23), InlineData(10.0, 2.088487583762545e-45), InlineData(20.0, 5.3958656116079005e-176)]
    public void ReferenceErfcMatchesPublishedValues(double x, double erfc)
    {
        Assert.True(Math.Abs(Ref.Erfc(x) - erfc) <= 1e-13 * erfc, $"erfc({x}) = {Ref.Erfc(x)}, expected {erfc}");
    }

    [Theory]
    [InlineData(1), InlineData(7), InlineData(65), InlineData(3072), InlineData(50257)]
    public void SwiGluMatchesReference(int n)
    {
        var gate = TestInputs(7 + (ulong)n, n);
        var up = Inputs.Normal(8 + (ulong)n, n, std: 2f);
        var output = new float[n];
        Activations.SwiGlu(gate, up, output);
        Close.Elementwise(output, gate.Select((g, i) => Ref.Silu(g) * up[i]).ToArray(), what: "swiglu");
        Activations.SwiGlu(gate, up, gate); // in place over the gate
        Assert.Equal(output, gate);
    }

    [Theory]
    [InlineData(1), InlineData(7), InlineData(65), InlineData(3072)]
    public void SwiGluBackwardMatchesReferenceAndFiniteDifferences(int n)
    {
        var gate = TestInputs(9 + (ulong)n, n);
        var up = Inputs.Normal(10 + (ulong)n, n, std: 2f);
        var dy = Inputs.Normal(11 + (ulong)n, n);
        var dGate = new float[n];
        var dUp = new float[n];
        Activations.SwiGluBackward(gate, up, dy, dGate, dUp);
        var expectedGate = gate.Select((g, i) => dy[i] * up[i] * Ref.SiluDerivative(g)).ToArray();
        var expectedUp = gate.Select((g, i) => dy[i] * Ref.Silu(g)).ToArray();
        Close.Elementwise(dGate, expectedGate, what: "dGate");
        Close.Elementwise(dUp, expectedUp, what: "dUp");

        if (n <= 65)
        {
            // L = Σ dy·silu(g)·u, differentiated numerically w.r.t. the concatenation [g, u].
            var both = Ref.ToDouble(gate).Concat(Ref.ToDouble(up)).ToArray();
            var numeric = Ref.FiniteDifferenceGradient(both, Ref.ToDouble(dy),
                v => Enumerable.Range(0, n).Select(i => Ref.Silu(v[i]) * v[n + i]).ToArray());
            Close.Scaled(numeric, expectedGate.Concat(expectedUp).ToArray(), 1e-7, "finite differences");
        }
    }

    [Fact]
    public void LengthMismatchThrows()
    {
        Assert.Throws<ArgumentException>(() => Activations.GeluErf(new float[5], new float[4]));
        Assert.Throws<ArgumentException>(() => Activations.SiluBackward(new float[5], new float[5], new float[6]));
    }
}
