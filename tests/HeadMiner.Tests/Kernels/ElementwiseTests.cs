using HeadMiner.Tensors.Kernels;
using HeadMiner.Tests.Reference;

namespace HeadMiner.Tests.Kernels;

public class ElementwiseTests
{
    [Theory]
    [InlineData(1, 1), InlineData(3, 7), InlineData(4, 65), InlineData(2, 3072)]
    public void AddRowVectorAddsTheBiasToEveryRow(int rows, int cols)
    {
        var x = Inputs.Normal(1, rows * cols);
        var bias = Inputs.Normal(2, cols);
        var expected = x.Select((v, i) => (double)v + bias[i % cols]).ToArray();
        Elementwise.AddRowVector(x, rows, cols, bias);
        Close.Elementwise(x, expected, rtol: 1e-7, atol: 1e-7, what: "x + bias");
        Assert.Throws<ArgumentException>(() => Elementwise.AddRowVector(x, rows, cols, new float[cols + 1]));
    }

    [Theory]
    [InlineData(1), InlineData(7), InlineData(65), InlineData(3072)]
    public void ArithmeticHelpers(int n)
    {
        var a = Inputs.Normal(3, n);
        var b = Inputs.Normal(4, n);
        var y = new float[n];
        Elementwise.Add(a, b, y);
        Assert.Equal(a.Zip(b, (p, q) => p + q), y);
        Elementwise.Subtract(a, b, y);
        Assert.Equal(a.Zip(b, (p, q) => p - q), y);
        Elementwise.Multiply(a, b, y);
        Assert.Equal(a.Zip(b, (p, q) => p * q), y);
        Elementwise.Scale(a, 3f, y);
        Assert.Equal(a.Select(p => p * 3f), y);
        Elementwise.Scale(y, 0.5f);
        Assert.Equal(a.Select(p => p * 3f * 0.5f), y);

        var acc = (float[])b.Clone();
        Elementwise.Axpy(-2f, a, acc);
        Close.Elementwise(acc, a.Zip(b, (p, q) => q - 2.0 * p).ToArray(), rtol: 1e-6, atol: 1e-6, what: "axpy");
    }

    [Fact]
    public void LengthMismatchThrows()
    {
        Assert.Throws<ArgumentException>(() => Elementwise.Add(new float[3], new float[4], new float[3]));
        Assert.Throws<ArgumentException>(() => Elementwise.Axpy(1f, new float[3], new float[4]));
    }

    [Fact]
    public void IeeeSpecialValuesPassThrough()
    {
        float[] a = [float.NaN, float.PositiveInfinity, float.PositiveInfinity, 1f];
        float[] b = [1f, 1f, float.NegativeInfinity, float.NegativeInfinity];
        var y = new float[4];
        Elementwise.Add(a, b, y);
        Assert.True(float.IsNaN(y[0]));
        Assert.Equal(float.PositiveInfinity, y[1]);
        Assert.True(float.IsNaN(y[2]));
        Assert.Equal(float.NegativeInfinity, y[3]);
    }
}
