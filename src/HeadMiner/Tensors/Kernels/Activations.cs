using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace HeadMiner.Tensors.Kernels;

/// <summary>
/// Elementwise activations and their derivatives. Every output may be the same span as an input (exact overlap);
/// partial overlap is not supported.
/// <para>
/// All backward kernels, and GeluTanh below x = −3, are evaluated in double precision per element and rounded once to
/// float, so they keep a small relative error even where the result is tiny (large negative inputs) or where a
/// derivative crosses zero. GeluTanh from −3 up runs in float: its exp argument −2u is then at most 6.7 in size, so the
/// float rounding of u costs at most ~2e-6 relative (it sits on GPT-2's MLP, where the double path took 3.2 % of a
/// 1×128 forward's profile samples: docs/PERFORMANCE.md). GeluErf runs a float version of the same erf scheme (relative error below 1e-6, tails included); SiLU
/// and SwiGLU forward run in float (their exp argument is the exact input, so float is accurate to a few ulps).
/// </para>
/// <para>
/// Special values: NaN in gives NaN out. At ±∞ every activation returns its limit rather than the NaN a naive
/// formula gives (−∞·0): f(+∞) = +∞ and f(−∞) = 0 for GELU and SiLU; derivatives are 1 at +∞ and 0 at −∞.
/// SwiGLU(gate, up) = silu(gate)·up follows IEEE products of those limits (silu(−∞)·∞ is NaN).
/// </para>
/// </summary>
public static class Activations
{
    private const double SqrtTwoOverPi = 0.79788456080286535588; // sqrt(2/pi), GPT-2's gelu_new constant
    private const double GeluTanhCubic = 0.044715;
    private const double InvSqrt2 = 0.70710678118654752440;
    private const double InvSqrt2Pi = 0.39894228040143267794; // 1/sqrt(2 pi)

    /// <summary>GELU with the tanh approximation GPT-2 uses ("gelu_new"): 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).</summary>
    public static void GeluTanh(ReadOnlySpan<float> x, Span<float> y)
    {
        CheckSameLength(x.Length, y.Length, nameof(y));
        Span<float> scratch = stackalloc float[2 * ChunkLength];
        const float minusTwoC = (float)(-2 * SqrtTwoOverPi), minusTwoCA = (float)(-2 * SqrtTwoOverPi * GeluTanhCubic);
        for (int start = 0; start < x.Length; start += ChunkLength)
        {
            int n = Math.Min(ChunkLength, x.Length - start);
            var xs = x.Slice(start, n);
            var e = scratch[..n];
            var result = scratch.Slice(ChunkLength, n);
            // x·σ(2u) = x / (1 + e^{−2u}), −2u = x·(−2c − 2c·0.044715·x²): one exp, no cancellation for negative x.
            TensorPrimitives.Multiply(xs, xs, e);
            TensorPrimitives.Multiply(e, minusTwoCA, e);
            TensorPrimitives.Add(e, minusTwoC, e);
            TensorPrimitives.Multiply(e, xs, e);
            TensorPrimitives.Exp(e, e);
            TensorPrimitives.Add(e, 1f, e);
            TensorPrimitives.Divide(xs, e, result);
            // Below −3 (and NaN, −∞) the double path, per element; x is still intact here even when y is x.
            if (!(TensorPrimitives.Min(xs) >= -3f)) // Min is NaN when any element is
                for (int i = 0; i < n; i++)
                    if (!(xs[i] >= -3f)) result[i] = GeluTanhDouble(xs[i]);
            result.CopyTo(y.Slice(start, n));
        }
    }

    private static float GeluTanhDouble(float value)
    {
        if (float.IsNegativeInfinity(value)) return 0f;
        double x = value, u = SqrtTwoOverPi * (x + GeluTanhCubic * x * x * x);
        return (float)(x / (1 + Math.Exp(-2 * u)));
    }

    /// <summary>
    /// Exact GELU: x · Φ(x) with Φ the standard normal CDF (PyTorch's default "gelu"). Runs in float (it sits on the
    /// MLP's hot path) with the same series / scaled-erfc scheme as the double kernels, truncated for float: relative
    /// error below 1e-6 everywhere, the left tail included.
    /// </summary>
    public static void GeluErf(ReadOnlySpan<float> x, Span<float> y)
    {
        CheckSameLength(x.Length, y.Length, nameof(y));
        Span<float> e = stackalloc float[ChunkLength];
        int w = Vector<float>.Count;
        for (int start = 0; start < x.Length; start += ChunkLength)
        {
            int n = Math.Min(ChunkLength, x.Length - start);
            var xs = x.Slice(start, n);
            var ys = y.Slice(start, n);
            var es = e[..n];
            // exp(−x²/2) for the whole chunk through TensorPrimitives (its exp is several times faster than Vector.Exp).
            TensorPrimitives.Multiply(xs, xs, es);
            TensorPrimitives.Multiply(es, -0.5f, es);
            TensorPrimitives.Exp(es, es);
            ref float x0 = ref MemoryMarshal.GetReference(xs);
            ref float e0 = ref MemoryMarshal.GetReference(es);
            ref float y0 = ref MemoryMarshal.GetReference(ys);
            int i = 0;
            for (; i + w <= n; i += w)
                GeluErfFloat(Vector.LoadUnsafe(ref x0, (nuint)i), Vector.LoadUnsafe(ref e0, (nuint)i)).StoreUnsafe(ref y0, (nuint)i);
            for (; i < n; i++) ys[i] = GeluErfFloat(new Vector<float>(xs[i]), new Vector<float>(es[i]))[0];
        }
    }

    /// <summary>SiLU (swish): x · sigmoid(x).</summary>
    public static void Silu(ReadOnlySpan<float> x, Span<float> y)
    {
        CheckSameLength(x.Length, y.Length, nameof(y));
        Span<float> sigmoid = stackalloc float[ChunkLength];
        for (int i = 0; i < x.Length; i += ChunkLength)
        {
            int n = Math.Min(ChunkLength, x.Length - i);
            var xs = x.Slice(i, n);
            var s = sigmoid[..n];
            TensorPrimitives.Sigmoid(xs, s);
            TensorPrimitives.Multiply(xs, s, s);
            FixNegativeInfinity(xs, s, 0f); // before the store: y may be x
            s.CopyTo(y.Slice(i, n));
        }
    }

    /// <summary>
    /// Fused SwiGLU gate (Llama/Mistral/Qwen MLP): output = silu(gate) · up. output may be the same span as gate or up.
    /// </summary>
    public static void SwiGlu(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> output)
    {
        CheckSameLength(gate.Length, up.Length, nameof(up));
        CheckSameLength(gate.Length, output.Length, nameof(output));
        Span<float> silu = stackalloc float[ChunkLength];
        for (int i = 0; i < gate.Length; i += ChunkLength)
        {
            int n = Math.Min(ChunkLength, gate.Length - i);
            var g = gate.Slice(i, n);
            var s = silu[..n];
            TensorPrimitives.Sigmoid(g, s);
            TensorPrimitives.Multiply(g, s, s);
            FixNegativeInfinity(g, s, 0f);
            TensorPrimitives.Multiply(s, up.Slice(i, n), output.Slice(i, n));
        }
    }

    /// <summary>
    /// Soft-capping (Gemma 2's attention and final logits): y = cap·tanh(x / cap), close to x for |x| ≪ cap and bounded
    /// by ±cap. y may be the same span as x.
    /// </summary>
    public static void SoftCap(ReadOnlySpan<float> x, Span<float> y, float cap)
    {
        CheckSameLength(x.Length, y.Length, nameof(y));
        TensorPrimitives.Divide(x, cap, y);
        TensorPrimitives.Tanh(y, y);
        TensorPrimitives.Multiply(y, cap, y);
    }

    /// <summary>
    /// Backward of <see cref="SoftCap"/> from its output: dx = dy · (1 − (y / cap)²). dx may be the same span as y or dy.
    /// </summary>
    public static void SoftCapBackward(ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx, float cap)
    {
        CheckSameLength(y.Length, dy.Length, nameof(dy));
        CheckSameLength(y.Length, dx.Length, nameof(dx));
        for (int i = 0; i < y.Length; i++)
        {
            double t = y[i] / (double)cap;
            dx[i] = (float)(dy[i] * (1 - t * t));
        }
    }

    /// <summary>The error function of each element, accurate to about 1e-15 before the final rounding to float.</summary>
    public static void Erf(ReadOnlySpan<float> x, Span<float> y) => MapDouble<ErfOp>(x, default, y);

    // ---- backward ------------------------------------------------------------------------------------------

    /// <summary>dx = dy · GeluTanh′(x). dx may be the same span as x or dy.</summary>
    public static void GeluTanhBackward(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx)
    {
        CheckSameLength(x.Length, dy.Length, nameof(dy));
        MapDouble<GeluTanhGradOp>(x, dy, dx);
    }

    /// <summary>dx = dy · (Φ(x) + x·φ(x)). dx may be the same span as x or dy.</summary>
    public static void GeluErfBackward(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx)
    {
        CheckSameLength(x.Length, dy.Length, nameof(dy));
        MapDouble<GeluErfGradOp>(x, dy, dx);
    }

    /// <summary>dx = dy · σ(x)·(1 + x·(1 − σ(x))). dx may be the same span as x or dy.</summary>
    public static void SiluBackward(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx)
    {
        CheckSameLength(x.Length, dy.Length, nameof(dy));
        MapDouble<SiluGradOp>(x, dy, dx);
    }

    /// <summary>
    /// Backward of <see cref="SwiGlu"/>: dUp = dy · silu(gate), dGate = dy · up · silu′(gate).
    /// dGate and dUp may be the same spans as gate and up respectively (in-place gradient), or as dy.
    /// </summary>
    public static void SwiGluBackward(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, ReadOnlySpan<float> dy, Span<float> dGate, Span<float> dUp)
    {
        int length = gate.Length;
        CheckSameLength(length, up.Length, nameof(up));
        CheckSameLength(length, dy.Length, nameof(dy));
        CheckSameLength(length, dGate.Length, nameof(dGate));
        CheckSameLength(length, dUp.Length, nameof(dUp));
        Span<double> e = stackalloc double[ChunkLength];
        int w = Vector<float>.Count, wd = Vector<double>.Count;
        for (int start = 0; start < length; start += ChunkLength)
        {
            int n = Math.Min(ChunkLength, length - start);
            var g = gate.Slice(start, n);
            var u = up.Slice(start, n);
            var d = dy.Slice(start, n);
            var dg = dGate.Slice(start, n);
            var du = dUp.Slice(start, n);
            var es = e[..n];
            for (int j = 0; j < n; j++) es[j] = -(double)g[j];
            TensorPrimitives.Exp(es, es);
            ref float g0 = ref MemoryMarshal.GetReference(g);
            ref float u0 = ref MemoryMarshal.GetReference(u);
            ref float d0 = ref MemoryMarshal.GetReference(d);
            ref float dg0 = ref MemoryMarshal.GetReference(dg);
            ref float du0 = ref MemoryMarshal.GetReference(du);
            ref double e0 = ref MemoryMarshal.GetReference(es);
            int i = 0;
            for (; i + w <= n; i += w)
            {
                Vector.Widen(Vector.LoadUnsafe(ref g0, (nuint)i), out var gLo, out var gHi);
                Vector.Widen(Vector.LoadUnsafe(ref u0, (nuint)i), out var uLo, out var uHi);
                Vector.Widen(Vector.LoadUnsafe(ref d0, (nuint)i), out var dLo, out var dHi);
                var eLo = Vector.LoadUnsafe(ref e0, (nuint)i);
                var eHi = Vector.LoadUnsafe(ref e0, (nuint)(i + wd));
                SwiGluGrad(gLo, uLo, dLo, eLo, out var dgLo, out var duLo);
                SwiGluGrad(gHi, uHi, dHi, eHi, out var dgHi, out var duHi);
                Vector.Narrow(dgLo, dgHi).StoreUnsafe(ref dg0, (nuint)i);
                Vector.Narrow(duLo, duHi).StoreUnsafe(ref du0, (nuint)i);
            }
            for (; i < n; i++)
            {
                // The tail goes through the same vector code, one element broadcast to every lane.
                SwiGluGrad(new Vector<double>(g[i]), new Vector<double>(u[i]), new Vector<double>(d[i]), new Vector<double>(es[i]), out var a, out var b);
                dg[i] = (float)a[0];
                du[i] = (float)b[0];
            }
        }
    }

    /// <summary>One lane group of SwiGLU's backward; e = exp(−g).</summary>
    private static void SwiGluGrad(Vector<double> g, Vector<double> u, Vector<double> dy, Vector<double> e, out Vector<double> dGate, out Vector<double> dUp)
    {
        var s = Vector<double>.One / (Vector<double>.One + e);
        var silu = FixInfinities(g, g * s, Vector<double>.Zero, g);
        var dSilu = FixInfinities(g, s * (Vector<double>.One + g * Complement(e)), Vector<double>.Zero, Vector<double>.One);
        dUp = dy * silu;
        dGate = dy * u * dSilu;
    }

    // ---- scalar double versions (the slow but exact path some callers want, e.g. a single value) -------------

    /// <summary>erf(x) in double, accurate to about 1e-15 (Taylor series below 1, scaled erfc fit above).</summary>
    internal static double Erf(double x) => ErfOp.Invoke(new Vector<double>(x), new Vector<double>(Math.Exp(-x * x)), default)[0];

    /// <summary>Standard normal CDF Φ(x) in double, with small relative error in both tails.</summary>
    internal static double NormalCdf(double x) => NormalCdf(new Vector<double>(x), new Vector<double>(Math.Exp(-0.5 * x * x)))[0];

    // ---- the double-precision element functions ------------------------------------------------------------

    /// <summary>
    /// An elementwise function that needs one exponential: the plumbing evaluates e = exp(ExpArgument(x)) for a
    /// whole chunk with <c>TensorPrimitives.Exp</c> over doubles (vectorized at full
    /// width; Vector.Exp is several times slower), then calls Invoke(x, e, dy).
    /// </summary>
    private interface IExpOp
    {
        static abstract Vector<double> ExpArgument(Vector<double> x);

        static abstract Vector<double> Invoke(Vector<double> x, Vector<double> e, Vector<double> dy);
    }

    private readonly struct GeluTanhGradOp : IExpOp
    {
        public static Vector<double> ExpArgument(Vector<double> x) => -2 * TanhArgument(x);

        public static Vector<double> Invoke(Vector<double> x, Vector<double> e, Vector<double> dy)
        {
            // d/dx x·σ(2u) = σ + 2x·σ(1 − σ)·u′ with u′ = √(2/π)(1 + 3·0.044715·x²) and 1 − σ from e directly.
            var s = Vector<double>.One / (Vector<double>.One + e);
            var du = new Vector<double>(SqrtTwoOverPi) * (Vector<double>.One + new Vector<double>(3 * GeluTanhCubic) * x * x);
            var d = s + 2 * x * s * Complement(e) * du;
            return dy * FixInfinities(x, d, Vector<double>.Zero, Vector<double>.One);
        }
    }

    private readonly struct GeluErfGradOp : IExpOp
    {
        public static Vector<double> ExpArgument(Vector<double> x) => new Vector<double>(-0.5) * x * x;

        public static Vector<double> Invoke(Vector<double> x, Vector<double> e, Vector<double> dy)
        {
            var pdf = new Vector<double>(InvSqrt2Pi) * e;
            return dy * FixInfinities(x, NormalCdf(x, e) + x * pdf, Vector<double>.Zero, Vector<double>.One);
        }
    }

    private readonly struct SiluGradOp : IExpOp
    {
        public static Vector<double> ExpArgument(Vector<double> x) => -x;

        public static Vector<double> Invoke(Vector<double> x, Vector<double> e, Vector<double> dy)
        {
            // σ = 1/(1 + e^{−x}); 1 − σ from e directly (no cancellation as σ → 1).
            var s = Vector<double>.One / (Vector<double>.One + e);
            return dy * FixInfinities(x, s * (Vector<double>.One + x * Complement(e)), Vector<double>.Zero, Vector<double>.One);
        }
    }

    private readonly struct ErfOp : IExpOp
    {
        public static Vector<double> ExpArgument(Vector<double> x) => -(x * x);

        public static Vector<double> Invoke(Vector<double> x, Vector<double> e, Vector<double> dy)
        {
            var z = Vector.Abs(x);
            var small = Vector.LessThan(z, Vector<double>.One);
            var result = Vector<double>.Zero;
            if (small != Vector<long>.Zero) result = Vector.ConditionalSelect(small, z * ErfSeries(z * z), result);
            if (small != Vector<long>.AllBitsSet) result = Vector.ConditionalSelect(small, result, Vector<double>.One - Erfc(z, e));
            return Vector.ConditionalSelect(Vector.LessThan(x, Vector<double>.Zero), -result, result);
        }
    }

    /// <summary>
    /// 1 − σ given e = exp(−t) where σ = 1/(1 + e): 1/(1 + 1/e), exact to rounding without the cancellation of 1 − σ
    /// as σ → 1, and without e·σ's ∞·0 when e overflows.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<double> Complement(Vector<double> e) => Vector<double>.One / (Vector<double>.One + Vector<double>.One / e);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<double> TanhArgument(Vector<double> x) =>
        new Vector<double>(SqrtTwoOverPi) * (x + new Vector<double>(GeluTanhCubic) * x * x * x);

    /// <summary>Replaces the lanes where x is −∞ / +∞ by the function's limits there (the formulas give ∞·0 = NaN).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<double> FixInfinities(Vector<double> x, Vector<double> y, Vector<double> atNegativeInfinity, Vector<double> atPositiveInfinity)
    {
        y = Vector.ConditionalSelect(Vector.Equals(x, new Vector<double>(double.NegativeInfinity)), atNegativeInfinity, y);
        return Vector.ConditionalSelect(Vector.Equals(x, new Vector<double>(double.PositiveInfinity)), atPositiveInfinity, y);
    }

    /// <summary>
    /// Φ(x) = ½·erfc(−x/√2), given e = exp(−x²/2). Near zero ½ + ½·erf(x/√2) from the series; in the tails erfc is
    /// formed directly so the left tail keeps its relative accuracy (1 + erf would cancel to nothing there).
    /// </summary>
    private static Vector<double> NormalCdf(Vector<double> x, Vector<double> e)
    {
        var z = Vector.Abs(x) * new Vector<double>(InvSqrt2);
        var half = new Vector<double>(0.5);
        var small = Vector.LessThan(z, Vector<double>.One);
        var negative = Vector.LessThan(x, Vector<double>.Zero);
        var result = Vector<double>.Zero;
        if (small != Vector<long>.Zero)
        {
            var erf = z * ErfSeries(z * z);
            erf = Vector.ConditionalSelect(negative, -erf, erf);
            result = Vector.ConditionalSelect(small, half + half * erf, result);
        }
        if (small != Vector<long>.AllBitsSet)
        {
            var tail = half * Erfc(z, e);
            tail = Vector.ConditionalSelect(negative, tail, Vector<double>.One - tail);
            result = Vector.ConditionalSelect(small, result, tail);
        }
        return result;
    }

    // erf(z)/z = (2/√π) Σ (−1)ⁿ z²ⁿ / (n!(2n+1)); for z < 1 nineteen terms leave a truncation error below 1e-17.
    private static readonly double[] ErfSeriesCoefficients = BuildErfSeries(19);

    private static double[] BuildErfSeries(int terms)
    {
        var c = new double[terms];
        double factorial = 1;
        for (int n = 0; n < terms; n++)
        {
            if (n > 0) factorial *= n;
            c[n] = (n % 2 == 0 ? 1 : -1) * 2 / Math.Sqrt(Math.PI) / (factorial * (2 * n + 1));
        }
        return c;
    }

    private static Vector<double> ErfSeries(Vector<double> z2)
    {
        var c = ErfSeriesCoefficients;
        var p = new Vector<double>(c[^1]);
        for (int n = c.Length - 2; n >= 0; n--) p = p * z2 + new Vector<double>(c[n]);
        return p;
    }

    /// <summary>
    /// erfc(z) for z ≥ 1 as e/z · h(1/z²) with e = exp(−z²) supplied by the caller, where h(s) = z·e^{z²}·erfc(z) is
    /// smooth on s ∈ [0, 1] and tends to 1/√π. h is a Chebyshev fit in two pieces (s ≥ ¼ and s &lt; ¼), relative
    /// error about 1e-14 against erfc in double. z = +∞ gives 0; lanes with z &lt; 1 give garbage and must be masked
    /// by the caller.
    /// </summary>
    private static Vector<double> Erfc(Vector<double> z, Vector<double> e)
    {
        var s = Vector<double>.One / (z * z);
        var near = Vector.GreaterThanOrEqual(s, new Vector<double>(0.25));
        var uNear = s * new Vector<double>(8.0 / 3.0) - new Vector<double>(5.0 / 3.0);
        var uFar = s * new Vector<double>(8.0) - Vector<double>.One;
        Vector<double> h;
        if (near == Vector<long>.AllBitsSet) h = Chebyshev(ErfcNear, uNear);
        else if (near == Vector<long>.Zero) h = Chebyshev(ErfcFar, uFar);
        else h = Chebyshev(ErfcNear, ErfcFar, near, Vector.ConditionalSelect(near, uNear, uFar));
        var erfc = e * h / z;
        return Vector.ConditionalSelect(Vector.Equals(z, new Vector<double>(double.PositiveInfinity)), Vector<double>.Zero, erfc);
    }

    /// <summary>Clenshaw with per-lane coefficients: lanes in <paramref name="useFirst"/> sum series a, the others b.</summary>
    private static Vector<double> Chebyshev(ReadOnlySpan<double> a, ReadOnlySpan<double> b, Vector<long> useFirst, Vector<double> u)
    {
        var b1 = Vector<double>.Zero;
        var b2 = Vector<double>.Zero;
        var u2 = u + u;
        for (int j = a.Length - 1; j >= 1; j--)
        {
            var t = u2 * b1 - b2 + Vector.ConditionalSelect(useFirst, new Vector<double>(a[j]), new Vector<double>(b[j]));
            b2 = b1;
            b1 = t;
        }
        return u * b1 - b2 + Vector.ConditionalSelect(useFirst, new Vector<double>(a[0]), new Vector<double>(b[0]));
    }

    /// <summary>Σ c[j]·T_j(u) by Clenshaw's recurrence (c[0] already halved).</summary>
    private static Vector<double> Chebyshev(ReadOnlySpan<double> c, Vector<double> u)
    {
        var b1 = Vector<double>.Zero;
        var b2 = Vector<double>.Zero;
        var u2 = u + u;
        for (int j = c.Length - 1; j >= 1; j--)
        {
            var t = u2 * b1 - b2 + new Vector<double>(c[j]);
            b2 = b1;
            b1 = t;
        }
        return u * b1 - b2 + new Vector<double>(c[0]);
    }

    // h(s) = z·e^{z²}·erfc(z), s = 1/z², on s ∈ [¼, 1] (z ∈ [1, 2]), mapped to u = (8s − 5)/3. Chebyshev interpolation
    // at 21 nodes, fitted once against the C library's erfc (max relative error 5e-15).
    private static ReadOnlySpan<double> ErfcNear =>
    [
        0.4651993266988453, -0.04110133936262092, 0.003914495866689524, -0.0004906395650548433,
        7.157479001371863e-05, -1.1530716341290854e-05, 1.994670590186426e-06, -3.642666471316756e-07,
        6.94437261398543e-08, -1.3712208913303702e-08, 2.7883896990319034e-09, -5.814163595019295e-10,
        1.238922350953517e-10, -2.690608053817251e-11, 5.942833526871384e-12, -1.3323945121815736e-12,
        3.021789168095828e-13, -7.054145627415934e-14, 1.6139206373449746e-14, -3.5461052084158273e-15,
        9.384027946236442e-17,
    ];

    // The same h on s ∈ [0, ¼] (z ≥ 2), mapped to u = 8s − 1; near s = 0 the fit used the asymptotic series.
    private static ReadOnlySpan<double> ErfcFar =>
    [
        0.5357589655101463, -0.026532434337606842, 0.0017111539779206858, -0.0001637516634582675,
        1.9871293500281624e-05, -2.8437124124581187e-06, 4.6061613069779484e-07, -8.2277529895023e-08,
        1.5921418569785404e-08, -3.295071221167572e-09, 7.223441580333791e-10, -1.664855766475306e-10,
        4.0104237391298214e-11, -1.0048062910817364e-11, 2.6088284971457316e-12, -6.994986600532337e-13,
        1.9272678691046556e-13, -5.621693586834096e-14, 1.6420727211836838e-14, -4.948422624043555e-15,
        7.527047768143174e-16,
    ];

    // ---- the float GELU (forward only: its derivative crosses zero, where float would lose relative accuracy) --

    /// <summary>x·Φ(x) in float, given e = exp(−hi) with hi = float(x²)/2 (see <see cref="NormalCdfFloat"/>).</summary>
    private static Vector<float> GeluErfFloat(Vector<float> x, Vector<float> e)
    {
        var y = x * NormalCdfFloat(x, e);
        return Vector.ConditionalSelect(Vector.Equals(x, new Vector<float>(float.NegativeInfinity)), Vector<float>.Zero, y);
    }

    /// <summary>
    /// Φ in float: the double scheme of <see cref="NormalCdf(Vector{double}, Vector{double})"/> with float-length
    /// expansions. e = exp(−hi) where hi = ½·float(x·x); the rounding error lo of x·x is recovered exactly with an
    /// FMA and applied as e·(1 − lo/2): rounding z or z² would cost a relative error of ~1e-7·z², 5e-6 by z = 9.
    /// </summary>
    private static Vector<float> NormalCdfFloat(Vector<float> x, Vector<float> e)
    {
        var z = Vector.Abs(x) * new Vector<float>((float)InvSqrt2);
        var half = new Vector<float>(0.5f);
        var small = Vector.LessThan(z, Vector<float>.One);
        var negative = Vector.LessThan(x, Vector<float>.Zero);
        var result = Vector<float>.Zero;
        if (small != Vector<int>.Zero)
        {
            var z2 = z * z;
            var c = ErfSeriesCoefficients;
            var p = new Vector<float>((float)c[FloatSeriesTerms - 1]);
            for (int n = FloatSeriesTerms - 2; n >= 0; n--) p = Vector.FusedMultiplyAdd(p, z2, new Vector<float>((float)c[n]));
            var erf = z * p;
            erf = Vector.ConditionalSelect(negative, -erf, erf);
            result = Vector.ConditionalSelect(small, Vector.FusedMultiplyAdd(half, erf, half), result);
        }
        if (small != Vector<int>.AllBitsSet)
        {
            var xx = x * x;
            var lo = half * Vector.FusedMultiplyAdd(x, x, -xx);
            var s = Vector<float>.One / (half * xx);
            var near = Vector.GreaterThanOrEqual(s, new Vector<float>(0.25f));
            var h = Vector<float>.Zero;
            if (near != Vector<int>.Zero)
                h = Vector.ConditionalSelect(near, ChebyshevFloat(ErfcNear[..FloatChebyshevTerms], s * new Vector<float>(8f / 3f) - new Vector<float>(5f / 3f)), h);
            if (near != Vector<int>.AllBitsSet)
                h = Vector.ConditionalSelect(near, h, ChebyshevFloat(ErfcFar[..FloatChebyshevTerms], s * new Vector<float>(8f) - Vector<float>.One));
            var erfc = e * (Vector<float>.One - lo) * h / z;
            erfc = Vector.ConditionalSelect(Vector.Equals(z, new Vector<float>(float.PositiveInfinity)), Vector<float>.Zero, erfc);
            var tail = half * erfc;
            tail = Vector.ConditionalSelect(negative, tail, Vector<float>.One - tail);
            result = Vector.ConditionalSelect(small, result, tail);
        }
        return result;
    }

    private const int FloatSeriesTerms = 11;     // truncation 1/(11!·23) ≈ 1e-9 at z = 1
    private const int FloatChebyshevTerms = 10;  // dropped coefficients below 3e-9 relative

    private static Vector<float> ChebyshevFloat(ReadOnlySpan<double> c, Vector<float> u)
    {
        var b1 = Vector<float>.Zero;
        var b2 = Vector<float>.Zero;
        var u2 = u + u;
        for (int j = c.Length - 1; j >= 1; j--)
        {
            var t = Vector.FusedMultiplyAdd(u2, b1, new Vector<float>((float)c[j]) - b2);
            b2 = b1;
            b1 = t;
        }
        return Vector.FusedMultiplyAdd(u, b1, new Vector<float>((float)c[0]) - b2);
    }

    // ---- plumbing ------------------------------------------------------------------------------------------

    private const int ChunkLength = 256; // stack scratch: 1-2 KiB, stays in L1 with x and y

    /// <summary>
    /// y[i] = TOp(x[i], exp(TOp.ExpArgument(x[i])), dy[i]) in double, chunk by chunk (dy empty: unary, dy = 0).
    /// Each chunk's x and dy are read before its y is written, so y may be x or dy.
    /// </summary>
    private static void MapDouble<TOp>(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> y) where TOp : IExpOp
    {
        CheckSameLength(x.Length, y.Length, nameof(y));
        bool hasDy = !dy.IsEmpty;
        Span<double> e = stackalloc double[ChunkLength];
        int w = Vector<float>.Count, wd = Vector<double>.Count;
        for (int start = 0; start < x.Length; start += ChunkLength)
        {
            int n = Math.Min(ChunkLength, x.Length - start);
            var xs = x.Slice(start, n);
            var ds = hasDy ? dy.Slice(start, n) : default;
            var ys = y.Slice(start, n);
            var es = e[..n];
            ref float x0 = ref MemoryMarshal.GetReference(xs);
            ref float d0 = ref MemoryMarshal.GetReference(ds);
            ref float y0 = ref MemoryMarshal.GetReference(ys);
            ref double e0 = ref MemoryMarshal.GetReference(es);
            int i = 0;
            for (; i + w <= n; i += w)
            {
                Vector.Widen(Vector.LoadUnsafe(ref x0, (nuint)i), out var lo, out var hi);
                TOp.ExpArgument(lo).StoreUnsafe(ref e0, (nuint)i);
                TOp.ExpArgument(hi).StoreUnsafe(ref e0, (nuint)(i + wd));
            }
            for (; i < n; i++) es[i] = TOp.ExpArgument(new Vector<double>(xs[i]))[0];
            TensorPrimitives.Exp(es, es);
            for (i = 0; i + w <= n; i += w)
            {
                Vector.Widen(Vector.LoadUnsafe(ref x0, (nuint)i), out var xLo, out var xHi);
                Vector<double> dLo = Vector<double>.Zero, dHi = Vector<double>.Zero;
                if (hasDy) Vector.Widen(Vector.LoadUnsafe(ref d0, (nuint)i), out dLo, out dHi);
                var eLo = Vector.LoadUnsafe(ref e0, (nuint)i);
                var eHi = Vector.LoadUnsafe(ref e0, (nuint)(i + wd));
                Vector.Narrow(TOp.Invoke(xLo, eLo, dLo), TOp.Invoke(xHi, eHi, dHi)).StoreUnsafe(ref y0, (nuint)i);
            }
            for (; i < n; i++)
                ys[i] = (float)TOp.Invoke(new Vector<double>(xs[i]), new Vector<double>(es[i]), new Vector<double>(hasDy ? ds[i] : 0))[0];
        }
    }

    /// <summary>Where x is −∞, sets y to <paramref name="value"/> (the float kernels' −∞·0 = NaN repair).</summary>
    private static void FixNegativeInfinity(ReadOnlySpan<float> x, Span<float> y, float value)
    {
        // Rare in practice: a vectorized search, and the repair only runs when there is something to repair.
        for (int i = x.IndexOf(float.NegativeInfinity); i >= 0 && i < x.Length; i++)
            if (float.IsNegativeInfinity(x[i])) y[i] = value;
    }

    private static void CheckSameLength(int expected, int actual, string name)
    {
        if (actual != expected) throw new ArgumentException($"{name} has {actual} elements, expected {expected}", name);
    }
}
