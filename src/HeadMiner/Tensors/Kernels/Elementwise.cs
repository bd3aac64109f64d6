using System.Numerics.Tensors;

namespace HeadMiner.Tensors.Kernels;

/// <summary>
/// The small elementwise operations a model's forward and backward passes glue kernels together with. Thin,
/// length-checked wrappers over <see cref="TensorPrimitives"/> (vectorized); outputs may be the same span as an
/// input. NaN and ±∞ follow IEEE arithmetic.
/// </summary>
public static class Elementwise
{
    /// <summary>x[r, :] += bias for every row of a row-major [rows, cols] block (a linear layer's bias).</summary>
    public static void AddRowVector(Span<float> x, int rows, int cols, ReadOnlySpan<float> bias)
    {
        Reductions.CheckBlock(x.Length, rows, cols);
        if (bias.Length != cols) throw new ArgumentException($"bias has {bias.Length} elements, rows have {cols}", nameof(bias));
        for (int r = 0; r < rows; r++)
        {
            var row = x.Slice(r * cols, cols);
            TensorPrimitives.Add(row, bias, row);
        }
    }

    /// <summary>y = a + b.</summary>
    public static void Add(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y)
    {
        CheckLengths(a.Length, b.Length, y.Length);
        TensorPrimitives.Add(a, b, y);
    }

    /// <summary>y = a − b.</summary>
    public static void Subtract(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y)
    {
        CheckLengths(a.Length, b.Length, y.Length);
        TensorPrimitives.Subtract(a, b, y);
    }

    /// <summary>y = a · b (elementwise).</summary>
    public static void Multiply(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y)
    {
        CheckLengths(a.Length, b.Length, y.Length);
        TensorPrimitives.Multiply(a, b, y);
    }

    /// <summary>x *= alpha.</summary>
    public static void Scale(Span<float> x, float alpha) => TensorPrimitives.Multiply(x, alpha, x);

    /// <summary>y = alpha · x.</summary>
    public static void Scale(ReadOnlySpan<float> x, float alpha, Span<float> y)
    {
        CheckLengths(x.Length, x.Length, y.Length);
        TensorPrimitives.Multiply(x, alpha, y);
    }

    /// <summary>y += alpha · x (BLAS axpy: residual adds, gradient accumulation).</summary>
    public static void Axpy(float alpha, ReadOnlySpan<float> x, Span<float> y)
    {
        CheckLengths(x.Length, x.Length, y.Length);
        TensorPrimitives.MultiplyAdd(x, alpha, y, y);
    }

    private static void CheckLengths(int a, int b, int y)
    {
        if (a != b || a != y) throw new ArgumentException($"elementwise operation on spans of {a}, {b} and {y} elements");
    }
}
