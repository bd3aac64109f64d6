using HeadMiner.Tensors.Kernels;
using HeadMiner.Tests.Reference;
using Ref = HeadMiner.Tests.Reference.ScalarKernels;

namespace HeadMiner.Tests.Kernels;

public class SoftmaxTests
{
    private static int RowsFor(int cols) => cols >= 50257 ? 2 : cols >= 3072 ? 3 : 5;

    [Theory]
    [InlineData(1), InlineData(7), InlineData(63), InlineData(65), InlineData(127), InlineData(768), InlineData(3072), InlineData(50257)]
    public void RowsMatchReferenceAndSumToOne(int cols)
    {
        int rows = RowsFor(cols);
        var x = Inputs.Normal((ulong)cols, rows * cols, std: 4f);
        var expected = Ref.Softmax(Ref.ToDouble(x), rows, cols);
        Softmax.Rows(x, rows, cols);
        Close.Elementwise(x, expected, what: "softmax");
        for (int r = 0; r < rows; r++)
        {
            double sum = 0;
            foreach (float p in x.AsSpan(r * cols, cols)) sum += p;
            Assert.InRange(sum, 1 - 1e-6, 1 + 1e-6);
        }
    }

    [Theory]
    [InlineData(7, 7, 0), InlineData(7, 65, 0), InlineData(7, 65, 3), InlineData(9, 127, 60), InlineData(4, 768, 700), InlineData(5, 63, 61)]
    public void CausalRowsZeroAboveDiagonalAndMatchReference(int rows, int cols, int firstQueryPosition)
    {
        var x = Inputs.Normal(11, rows * cols, std: 3f);
        // Whatever sits above the diagonal must not matter, not even NaN.
        for (int r = 0; r < rows; r++)
            for (int j = firstQueryPosition + r + 1; j < cols; j++) x[r * cols + j] = float.NaN;
        var expected = Ref.CausalSoftmax(Ref.ToDouble(x), rows, cols, firstQueryPosition);
        Softmax.CausalRows(x, rows, cols, firstQueryPosition);
        Close.Elementwise(x, expected, what: "causal softmax");
        for (int r = 0; r < rows; r++)
        {
            int visible = Math.Min(cols, firstQueryPosition + r + 1);
            double sum = 0;
            for (int j = 0; j < cols; j++)
            {
                if (j >= visible) Assert.Equal(0f, x[r * cols + j]);
                sum += x[r * cols + j];
            }
            Assert.InRange(sum, 1 - 1e-6, 1 + 1e-6);
        }
    }

    [Fact]
    public void FullyMaskedRowsAreZerosNotNaN()
    {
        const int cols = 9;
        var x = Inputs.Normal(3, 3 * cols);
        x.AsSpan(cols, cols).Fill(float.NegativeInfinity); // row 1 entirely −∞
        Softmax.Rows(x, 3, cols);
        Assert.All(x.AsSpan(cols, cols).ToArray(), p => Assert.Equal(0f, p));
        Assert.All(x, p => Assert.False(float.IsNaN(p)));

        // A causal window that starts before the first key (firstQueryPosition < 0) hides row 0 entirely.
        var y = Inputs.Normal(4, 2 * cols);
        Softmax.CausalRows(y, 2, cols, firstQueryPosition: -1);
        Assert.All(y.AsSpan(0, cols).ToArray(), p => Assert.Equal(0f, p));
        Assert.Equal(1f, y[cols]); // row 1 sees exactly one key
    }

    [Fact]
    public void SpecialValuesFollowTheDocumentedRules()
    {
        const int cols = 65;
        var x = Inputs.Normal(5, 4 * cols);
        x[0 * cols + 10] = float.NaN;              // row 0: NaN → whole row NaN
        x[1 * cols + 20] = float.PositiveInfinity; // row 1: +∞ → whole row NaN (∞ − ∞)
        x[2 * cols + 30] = float.NegativeInfinity; // row 2: −∞ → exactly zero probability there
        var expected = Ref.Softmax(Ref.ToDouble(x), 4, cols);
        Softmax.Rows(x, 4, cols);
        Assert.All(x.AsSpan(0, 2 * cols).ToArray(), p => Assert.True(float.IsNaN(p)));
        Assert.Equal(0f, x[2 * cols + 30]);
        Close.Elementwise(x.AsSpan(2 * cols), expected.AsSpan(2 * cols), what: "rows 2-3");
    }

    [Theory]
    [InlineData(1), InlineData(7), InlineData(63), InlineData(65), InlineData(127), InlineData(768), InlineData(3072), InlineData(50257)]
    public void LogRowsMatchReference(int cols)
    {
        int rows = RowsFor(cols);
        var x = Inputs.Normal(100 + (ulong)cols, rows * cols, std: 4f);
        x[0] = 30f; // a confident row: its log-probability is near 0 and must stay accurate
        var expected = Ref.LogSoftmax(Ref.ToDouble(x), rows, cols);
        Softmax.LogRows(x, rows, cols);
        Close.Elementwise(x, expected, atol: 1e-7, what: "log-softmax");
    }

    [Fact]
    public void LogRowsSpecialValues()
    {
        const int cols = 7;
        var x = Inputs.Normal(6, 3 * cols);
        x.AsSpan(0, cols).Fill(float.NegativeInfinity);
        x[cols + 2] = float.NaN;
        x[2 * cols + 3] = float.NegativeInfinity;
        Softmax.LogRows(x, 3, cols);
        Assert.All(x.AsSpan(0, cols).ToArray(), v => Assert.Equal(float.NegativeInfinity, v));
        Assert.All(x.AsSpan(cols, cols).ToArray(), v => Assert.True(float.IsNaN(v)));
        Assert.Equal(float.NegativeInfinity, x[2 * cols + 3]);
        Assert.All(x.AsSpan(2 * cols, cols).ToArray(), v => Assert.False(float.IsNaN(v)));
    }

    [Theory]
    [InlineData(1, 0), InlineData(7, 0), InlineData(65, 0), InlineData(7, 2), InlineData(65, 40)]
    public void CausalBackwardMatchesFiniteDifferencesAndReference(int cols, int firstQueryPosition)
    {
        const int rows = 3;
        var x = Inputs.Normal(21, rows * cols, std: 2f);
        var dy = Inputs.Normal(22, rows * cols);
        var y = Ref.CausalSoftmax(Ref.ToDouble(x), rows, cols, firstQueryPosition);
        var analytic = Ref.CausalSoftmaxBackward(y, Ref.ToDouble(dy), rows, cols, firstQueryPosition);
        var numeric = Ref.FiniteDifferenceGradient(Ref.ToDouble(x), Ref.ToDouble(dy), v => Ref.CausalSoftmax(v, rows, cols, firstQueryPosition));
        Close.Scaled(numeric, analytic, 1e-6, "finite differences vs analytic");

        var yFast = (float[])x.Clone();
        Softmax.CausalRows(yFast, rows, cols, firstQueryPosition);
        var dx = new float[rows * cols];
        Softmax.CausalRowsBackward(yFast, dy, dx, rows, cols, firstQueryPosition);
        Close.Scaled(dx, analytic, what: "softmax backward");
        for (int r = 0; r < rows; r++)
            for (int j = firstQueryPosition + r + 1; j < cols; j++) Assert.Equal(0f, dx[r * cols + j]);
    }

    [Theory]
    [InlineData(127), InlineData(768), InlineData(3072)]
    public void RowsBackwardMatchesReferenceInPlace(int cols)
    {
        const int rows = 2;
        var x = Inputs.Normal(31, rows * cols, std: 3f);
        var dy = Inputs.Normal(32, rows * cols);
        var y = (float[])x.Clone();
        Softmax.Rows(y, rows, cols);
        var analytic = Ref.CausalSoftmaxBackward(Ref.ToDouble(y), Ref.ToDouble(dy), rows, cols, int.MaxValue / 2);
        Softmax.RowsBackward(y, dy, dy, rows, cols); // dx written over dy
        Close.Scaled(dy, analytic, what: "softmax backward");
    }

    [Theory]
    [InlineData(1), InlineData(7), InlineData(65), InlineData(768)]
    public void LogBackwardMatchesFiniteDifferencesAndReference(int cols)
    {
        const int rows = 3;
        var x = Inputs.Normal(41, rows * cols, std: 2f);
        var dy = Inputs.Normal(42, rows * cols);
        var logY = Ref.LogSoftmax(Ref.ToDouble(x), rows, cols);
        var analytic = Ref.LogSoftmaxBackward(logY, Ref.ToDouble(dy), rows, cols);
        if (cols <= 65)
        {
            var numeric = Ref.FiniteDifferenceGradient(Ref.ToDouble(x), Ref.ToDouble(dy), v => Ref.LogSoftmax(v, rows, cols));
            Close.Scaled(numeric, analytic, 1e-6, "finite differences vs analytic");
        }
        var y = (float[])x.Clone();
        Softmax.LogRows(y, rows, cols);
        var dx = new float[rows * cols];
        Softmax.LogRowsBackward(y, dy, dx, rows, cols);
        Close.Scaled(dx, analytic, what: "log-softmax backward");
    }

    [Fact]
    public void LogBackwardOverVocabularyMatchesClosedForm()
    {
        const int cols = 50257;
        var x = Inputs.Normal(43, cols, std: 3f);
        var dy = Inputs.Normal(44, cols);
        var logY = Ref.LogSoftmax(Ref.ToDouble(x), 1, cols);
        double total = dy.Sum(v => (double)v);
        var expected = new double[cols];
        for (int j = 0; j < cols; j++) expected[j] = dy[j] - Math.Exp(logY[j]) * total;
        var y = (float[])x.Clone();
        Softmax.LogRows(y, 1, cols);
        Softmax.LogRowsBackward(y, dy, dy, 1, cols);
        Close.Scaled(dy, expected, what: "log-softmax backward");
    }

    [Fact]
    public void LogBackwardOfAllNegativeInfinityRowIsZero()
    {
        var y = new float[] { float.NegativeInfinity, float.NegativeInfinity, float.NegativeInfinity };
        var dy = new float[] { 1, 2, 3 };
        var dx = new float[3];
        Softmax.LogRowsBackward(y, dy, dx, 1, 3);
        Assert.Equal(new float[3], dx);
    }
}
