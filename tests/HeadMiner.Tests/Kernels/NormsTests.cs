using HeadMiner.Tensors.Kernels;
using HeadMiner.Tests.Reference;
using Ref = HeadMiner.Tests.Reference.ScalarKernels;

namespace HeadMiner.Tests.Kernels;

public class NormsTests
{
    private const float Eps = 1e-5f;

    public static TheoryData<int, bool> DimsAndAffine()
    {
        var data = new TheoryData<int, bool>();
        foreach (int dim in new[] { 1, 7, 63, 65, 127, 768, 3072 })
        {
            data.Add(dim, false);
            data.Add(dim, true);
        }
        return data;
    }

    /// <summary>Rows with a large common offset: a one-pass E[x²] − mean² variance would lose digits here.</summary>
    private static float[] OffsetRows(ulong seed, int rows, int dim)
    {
        var x = Inputs.Normal(seed, rows * dim, std: 2f);
        for (int i = 0; i < x.Length; i++) x[i] += 50f * (i / dim % 2 == 0 ? 1 : -1);
        return x;
    }

    [Theory]
    [MemberData(nameof(DimsAndAffine))]
    public void LayerNormMatchesReference(int dim, bool affine)
    {
        const int rows = 4;
        var x = OffsetRows((ulong)dim, rows, dim);
        float[]? weight = affine ? Inputs.Normal(1, dim, std: 0.5f) : null;
        float[]? bias = affine ? Inputs.Normal(2, dim) : null;
        var expectedScale = new double[rows];
        var expected = Ref.LayerNorm(Ref.ToDouble(x), rows, dim, Widen(weight), Widen(bias), Eps, expectedScale);
        var y = new float[rows * dim];
        var scale = new float[rows];
        Norms.LayerNorm(x, y, rows, dim, weight, bias, Eps, scale);
        Close.Scaled(y, expected, what: "layernorm");
        Close.Elementwise(scale, expectedScale, rtol: 1e-6, what: "scale");
        Norms.LayerNorm(x, x, rows, dim, weight, bias, Eps); // in place, no scale
        Assert.Equal(y, x);
    }

    [Theory]
    [MemberData(nameof(DimsAndAffine))]
    public void RmsNormMatchesReference(int dim, bool affine)
    {
        const int rows = 4;
        var x = Inputs.Normal(10 + (ulong)dim, rows * dim, std: 3f);
        float[]? weight = affine ? Inputs.Normal(3, dim, std: 0.5f) : null;
        var expectedScale = new double[rows];
        var expected = Ref.RmsNorm(Ref.ToDouble(x), rows, dim, Widen(weight), Eps, expectedScale);
        var y = new float[rows * dim];
        var scale = new float[rows];
        Norms.RmsNorm(x, y, rows, dim, weight, Eps, scale);
        Close.Elementwise(y, expected, what: "rmsnorm");
        Close.Elementwise(scale, expectedScale, rtol: 1e-6, what: "scale");
        Norms.RmsNorm(x, x, rows, dim, weight, Eps);
        Assert.Equal(y, x);
    }

    [Theory]
    [InlineData(7), InlineData(768)]
    public void EpsMattersForQuietRows(int dim)
    {
        // Rows with variance ≈ eps: dropping or misplacing eps changes the output by tens of percent here.
        const int rows = 3;
        var x = Inputs.Normal(60 + (ulong)dim, rows * dim, std: 0.003f);
        var weight = Inputs.Normal(61, dim);
        var y = new float[rows * dim];
        Norms.LayerNorm(x, y, rows, dim, weight, default, Eps);
        Close.Scaled(y, Ref.LayerNorm(Ref.ToDouble(x), rows, dim, Ref.ToDouble(weight), null, Eps), what: "layernorm");
        Norms.RmsNorm(x, y, rows, dim, weight, Eps);
        Close.Elementwise(y, Ref.RmsNorm(Ref.ToDouble(x), rows, dim, Ref.ToDouble(weight), Eps), what: "rmsnorm");
        var dy = Inputs.Normal(62, rows * dim);
        var dx = new float[rows * dim];
        Norms.LayerNormBackward(x, dy, dx, rows, dim, weight, Eps);
        Close.Scaled(dx, Ref.LayerNormBackward(Ref.ToDouble(x), Ref.ToDouble(dy), rows, dim, Ref.ToDouble(weight), Eps).Dx, what: "layernorm dx");
        Norms.RmsNormBackward(x, dy, dx, rows, dim, weight, Eps);
        Close.Scaled(dx, Ref.RmsNormBackward(Ref.ToDouble(x), Ref.ToDouble(dy), rows, dim, Ref.ToDouble(weight), Eps).Dx, what: "rmsnorm dx");
    }

    [Fact]
    public void SpecialValuesStayInTheirRow()
    {
        const int dim = 65;
        var x = Inputs.Normal(4, 3 * dim);
        x[5] = float.NaN;                   // row 0
        x[dim + 7] = float.PositiveInfinity; // row 1

        var y = new float[3 * dim];
        var scale = new float[3];
        Norms.LayerNorm(x, y, 3, dim, default, default, Eps, scale);
        Assert.All(y.AsSpan(0, 2 * dim).ToArray(), v => Assert.True(float.IsNaN(v))); // NaN and ∞ rows: all NaN
        Assert.True(float.IsNaN(scale[0]));
        Assert.All(y.AsSpan(2 * dim).ToArray(), v => Assert.True(float.IsFinite(v)));
        Assert.True(float.IsFinite(scale[2]));

        Norms.RmsNorm(x, y, 3, dim, default, Eps, scale);
        Assert.All(y.AsSpan(0, dim).ToArray(), v => Assert.True(float.IsNaN(v)));
        Assert.True(float.IsNaN(scale[0]));
        Assert.Equal(float.PositiveInfinity, scale[1]); // σ = ∞: ∞/∞ = NaN at the ∞, x/∞ = 0 elsewhere
        Assert.True(float.IsNaN(y[dim + 7]));
        Assert.Equal(0f, y[dim + 8]);
        Assert.All(y.AsSpan(2 * dim).ToArray(), v => Assert.True(float.IsFinite(v)));
    }

    [Theory]
    [InlineData(1, true), InlineData(7, true), InlineData(7, false), InlineData(65, true)]
    public void LayerNormReferenceBackwardMatchesFiniteDifferences(int dim, bool affine)
    {
        const int rows = 3;
        var x = Ref.ToDouble(OffsetRows(20 + (ulong)dim, rows, dim));
        var dy = Ref.ToDouble(Inputs.Normal(21, rows * dim));
        var weight = affine ? Ref.ToDouble(Inputs.Normal(22, dim)) : null;
        var bias = affine ? Ref.ToDouble(Inputs.Normal(23, dim)) : null;
        var (dx, dw, db) = Ref.LayerNormBackward(x, dy, rows, dim, weight, Eps);
        Close.Scaled(Ref.FiniteDifferenceGradient(x, dy, v => Ref.LayerNorm(v, rows, dim, weight, bias, Eps)), dx, 1e-6, "dx");
        if (!affine) return;
        Close.Scaled(Ref.FiniteDifferenceGradient(weight!, dy, w => Ref.LayerNorm(x, rows, dim, w, bias, Eps)), dw, 1e-6, "dweight");
        Close.Scaled(Ref.FiniteDifferenceGradient(bias!, dy, b => Ref.LayerNorm(x, rows, dim, weight, b, Eps)), db, 1e-6, "dbias");
    }

    // Not dim 1: there every dy is parallel to x, the gradient is the eps/σ³-sized remainder of a cancellation, and
    // central differences of an output ≈ ±1 cannot resolve it. The kernel is still checked at dim 1 against the
    // reference below.
    [Theory]
    [InlineData(2, true), InlineData(7, true), InlineData(7, false), InlineData(65, true)]
    public void RmsNormReferenceBackwardMatchesFiniteDifferences(int dim, bool affine)
    {
        const int rows = 3;
        var x = Ref.ToDouble(Inputs.Normal(30 + (ulong)dim, rows * dim, std: 2f));
        var dy = Ref.ToDouble(Inputs.Normal(31, rows * dim));
        var weight = affine ? Ref.ToDouble(Inputs.Normal(32, dim)) : null;
        var (dx, dw) = Ref.RmsNormBackward(x, dy, rows, dim, weight, Eps);
        Close.Scaled(Ref.FiniteDifferenceGradient(x, dy, v => Ref.RmsNorm(v, rows, dim, weight, Eps)), dx, 1e-6, "dx");
        if (affine) Close.Scaled(Ref.FiniteDifferenceGradient(weight!, dy, w => Ref.RmsNorm(x, rows, dim, w, Eps)), dw, 1e-6, "dweight");
    }

    [Theory]
    [MemberData(nameof(DimsAndAffine))]
    public void LayerNormBackwardMatchesReference(int dim, bool affine)
    {
        const int rows = 3;
        var x = OffsetRows(40 + (ulong)dim, rows, dim);
        var dy = Inputs.Normal(41, rows * dim);
        float[]? weight = affine ? Inputs.Normal(42, dim) : null;
        var (dxRef, dwRef, dbRef) = Ref.LayerNormBackward(Ref.ToDouble(x), Ref.ToDouble(dy), rows, dim, Widen(weight), Eps);
        var dx = new float[rows * dim];
        var dw = Enumerable.Repeat(1f, dim).ToArray(); // accumulated into: starts at 1
        var db = Enumerable.Repeat(1f, dim).ToArray();
        Norms.LayerNormBackward(x, dy, dx, rows, dim, weight, Eps, dw, db);
        Close.Scaled(dx, dxRef, what: "dx");
        Close.Scaled(dw, dwRef.Select(v => v + 1).ToArray(), what: "dweight");
        Close.Scaled(db, dbRef.Select(v => v + 1).ToArray(), what: "dbias");
        Norms.LayerNormBackward(x, dy, dy, rows, dim, weight, Eps); // dx over dy, no parameter gradients
        Assert.Equal(dx, dy);
    }

    [Theory]
    [MemberData(nameof(DimsAndAffine))]
    public void RmsNormBackwardMatchesReference(int dim, bool affine)
    {
        const int rows = 3;
        var x = Inputs.Normal(50 + (ulong)dim, rows * dim, std: 2f);
        var dy = Inputs.Normal(51, rows * dim);
        float[]? weight = affine ? Inputs.Normal(52, dim) : null;
        var (dxRef, dwRef) = Ref.RmsNormBackward(Ref.ToDouble(x), Ref.ToDouble(dy), rows, dim, Widen(weight), Eps);
        var dx = new float[rows * dim];
        var dw = new float[dim];
        Norms.RmsNormBackward(x, dy, dx, rows, dim, weight, Eps, dw);
        Close.Scaled(dx, dxRef, what: "dx");
        Close.Scaled(dw, dwRef, what: "dweight");
        Norms.RmsNormBackward(x, dy, x, rows, dim, weight, Eps); // dx over x
        Assert.Equal(dx, x);
    }

    [Fact]
    public void MismatchedWeightThrows()
    {
        Assert.Throws<ArgumentException>(() => Norms.LayerNorm(new float[8], new float[8], 2, 4, new float[3], default, Eps));
        Assert.Throws<ArgumentException>(() => Norms.RmsNorm(new float[8], new float[7], 2, 4, default, Eps));
    }

    private static double[]? Widen(float[]? x) => x == null ? null : Ref.ToDouble(x);

    [Theory]
    [InlineData(37, new[] { 0, 5, 29, 37 })]
    [InlineData(131, new[] { 0, 64, 128, 131 })]
    [InlineData(131, new[] { 0, 3, 67, 130, 131 })]
    public void LayerNormGradientsSplitByRowsAndColumnsAreBitIdentical(int dim, int[] columnCuts)
    {
        // The parallel training step's split: dx in row blocks without parameter gradients, then dweight/dbias per
        // column range. Both must give the single-call bits, cuts off the vector grid included.
        const int rows = 9;
        var x = OffsetRows(11, rows, dim);
        var dy = Inputs.Normal(12, rows * dim);
        var weight = Inputs.Normal(13, dim, std: 0.5f);
        var start = Inputs.Normal(14, dim); // accumulation onto existing gradients
        float[] dx = new float[rows * dim], dweight = (float[])start.Clone(), dbias = (float[])start.Clone();
        Norms.LayerNormBackward(x, dy, dx, rows, dim, weight, Eps, dweight, dbias);

        var splitDx = new float[rows * dim];
        Norms.LayerNormBackward(x.AsSpan(0, 4 * dim), dy.AsSpan(0, 4 * dim), splitDx.AsSpan(0, 4 * dim), 4, dim, weight, Eps);
        Norms.LayerNormBackward(x.AsSpan(4 * dim), dy.AsSpan(4 * dim), splitDx.AsSpan(4 * dim), rows - 4, dim, weight, Eps);
        float[] splitWeight = (float[])start.Clone(), splitBias = (float[])start.Clone();
        for (int c = 0; c + 1 < columnCuts.Length; c++)
            Norms.LayerNormParameterGradients(x, dy, rows, dim, Eps, columnCuts[c], columnCuts[c + 1] - columnCuts[c], splitWeight, splitBias);
        Assert.Equal(dx, splitDx);
        Assert.Equal(dweight, splitWeight);
        Assert.Equal(dbias, splitBias);
    }
}
