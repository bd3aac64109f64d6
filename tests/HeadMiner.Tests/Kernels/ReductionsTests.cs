using HeadMiner.Tensors.Kernels;
using HeadMiner.Tests.Reference;
using Ref = HeadMiner.Tests.Reference.ScalarKernels;

namespace HeadMiner.Tests.Kernels;

public class ReductionsTests
{
    [Theory]
    [InlineData(1), InlineData(7), InlineData(63), InlineData(65), InlineData(127), InlineData(768), InlineData(3072), InlineData(50257)]
    public void SumAndDotAccumulateInDouble(int n)
    {
        // 1e4 + noise: a float accumulator would drift by ~n·1e4·6e-8.
        var x = Inputs.Normal((ulong)n, n).Select(v => v + 1e4f).ToArray();
        var y = Inputs.Normal(1 + (ulong)n, n);
        double sum = 0, dot = 0;
        for (int i = 0; i < n; i++)
        {
            sum += x[i];
            dot += (double)x[i] * y[i];
        }
        Assert.Equal(sum, Reductions.Sum(x), Math.Abs(sum) * 1e-14);
        Assert.Equal(dot, Reductions.Dot(x, y), 1e-10 * x.Zip(y, (a, b) => Math.Abs((double)a * b)).Sum());
    }

    [Theory]
    [InlineData(1, 7), InlineData(3, 65), InlineData(2, 50257)]
    public void RowReductionsMatchReference(int rows, int cols)
    {
        var x = Inputs.Normal((ulong)cols, rows * cols, std: 3f);
        x[cols - 1] = 100f; // row 0's argmax is its last column
        var sums = new float[rows];
        var max = new float[rows];
        var argmax = new int[rows];
        var lse = new float[rows];
        Reductions.RowSums(x, rows, cols, sums);
        Reductions.RowMax(x, rows, cols, max);
        Reductions.RowArgMax(x, rows, cols, argmax);
        Reductions.RowLogSumExp(x, rows, cols, lse);
        for (int r = 0; r < rows; r++)
        {
            var row = x.AsSpan(r * cols, cols);
            double s = 0;
            foreach (float v in row) s += v;
            Assert.Equal(s, sums[r], 1e-5 * (1 + Math.Abs(s)));
            float m = row.ToArray().Max();
            Assert.Equal(m, max[r]);
            Assert.Equal(row.IndexOf(m), argmax[r]);
            Close.Elementwise(lse.AsSpan(r, 1), [Ref.LogSumExp(Ref.ToDouble(row))], what: "logsumexp");
        }
        Assert.Equal(cols - 1, argmax[0]);
    }

    [Fact]
    public void ReductionSpecialValues()
    {
        float[] x =
        [
            1, 5, 5, 2,                                  // tie: argmax is the first 5
            1, float.NaN, 9, 2,                          // NaN: max NaN, argmax the NaN
            float.NegativeInfinity, float.NegativeInfinity, float.NegativeInfinity, float.NegativeInfinity,
            1, float.PositiveInfinity, 2, 3,
        ];
        var max = new float[4];
        var argmax = new int[4];
        var lse = new float[4];
        Reductions.RowMax(x, 4, 4, max);
        Reductions.RowArgMax(x, 4, 4, argmax);
        Reductions.RowLogSumExp(x, 4, 4, lse);
        Assert.Equal([1, 1, 0, 1], argmax);
        Assert.True(float.IsNaN(max[1]));
        Assert.True(float.IsNaN(lse[1]));
        Assert.Equal(float.NegativeInfinity, lse[2]);
        Assert.Equal(float.PositiveInfinity, lse[3]);
        Assert.Equal(float.PositiveInfinity, max[3]);
    }

    [Theory]
    [InlineData(1, 1), InlineData(7, 65), InlineData(300, 127), InlineData(5, 3072)]
    public void ColumnSumsAreBiasGradients(int rows, int cols)
    {
        var x = Inputs.Normal((ulong)(rows + cols), rows * cols);
        var expected = new double[cols];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) expected[c] += x[r * cols + c];
        var sums = new float[cols];
        Reductions.ColumnSums(x, rows, cols, sums);
        Close.Scaled(sums, expected, what: "column sums");
        Reductions.ColumnSums(x, rows, cols, sums, accumulate: true);
        Close.Scaled(sums, expected.Select(v => 2 * v).ToArray(), what: "accumulated column sums");
    }

    [Fact]
    public void BlockLargerThanSpanThrows()
    {
        Assert.Throws<ArgumentException>(() => Reductions.RowSums(new float[10], 3, 4, new float[3]));
        Assert.Throws<ArgumentException>(() => Reductions.ColumnSums(new float[12], 3, 4, new float[3]));
    }

    [Fact]
    public void ColumnSumsOverColumnRangesMatchTheWholeBlockBitForBit()
    {
        const int rows = 23, cols = 301; // more than one 128-column block, ranges off the block grid
        var x = Inputs.Normal(41, rows * cols, std: 3f);
        var start = Inputs.Normal(42, cols);
        var whole = (float[])start.Clone();
        Reductions.ColumnSums(x, rows, cols, whole, accumulate: true);
        var split = (float[])start.Clone();
        int[] cuts = [0, 7, 135, 300, 301];
        for (int c = 0; c + 1 < cuts.Length; c++) Reductions.ColumnSums(x, rows, cols, cuts[c], cuts[c + 1] - cuts[c], split, accumulate: true);
        Assert.Equal(whole, split);
        Assert.Throws<ArgumentException>(() => Reductions.ColumnSums(x, rows, cols, 300, 2, split));
    }
}
