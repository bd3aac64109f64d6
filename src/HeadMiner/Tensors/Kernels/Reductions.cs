using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace HeadMiner.Tensors.Kernels;

/// <summary>
/// Sums, dot products and per-row / per-column reductions over row-major [rows, cols] blocks. Sums accumulate in
/// double: a float running sum over 50k vocabulary entries or thousands of tokens loses ~1e-5 of its relative
/// accuracy, the budget the kernels are held to.
/// </summary>
public static class Reductions
{
    /// <summary>Σ x, accumulated in double. NaN/±∞ propagate as IEEE addition does (+∞ and −∞ together give NaN).</summary>
    public static double Sum(ReadOnlySpan<float> x)
    {
        int w = Vector<float>.Count, i = 0;
        ref float x0 = ref MemoryMarshal.GetReference(x);
        Vector<double> a0 = Vector<double>.Zero, a1 = Vector<double>.Zero;
        for (; i + w <= x.Length; i += w)
        {
            Vector.Widen(Vector.LoadUnsafe(ref x0, (nuint)i), out var lo, out var hi);
            a0 += lo;
            a1 += hi;
        }
        double sum = Vector.Sum(a0 + a1);
        for (; i < x.Length; i++) sum += x[i];
        return sum;
    }

    /// <summary>Σ a·b, accumulated in double.</summary>
    public static double Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length) throw new ArgumentException($"dot of spans of {a.Length} and {b.Length} elements", nameof(b));
        int w = Vector<float>.Count, i = 0;
        ref float a0r = ref MemoryMarshal.GetReference(a);
        ref float b0r = ref MemoryMarshal.GetReference(b);
        Vector<double> s0 = Vector<double>.Zero, s1 = Vector<double>.Zero;
        for (; i + w <= a.Length; i += w)
        {
            Vector.Widen(Vector.LoadUnsafe(ref a0r, (nuint)i), out var aLo, out var aHi);
            Vector.Widen(Vector.LoadUnsafe(ref b0r, (nuint)i), out var bLo, out var bHi);
            s0 += aLo * bLo;
            s1 += aHi * bHi;
        }
        double sum = Vector.Sum(s0 + s1);
        for (; i < a.Length; i++) sum += (double)a[i] * b[i];
        return sum;
    }

    /// <summary>Σ (x − center)², accumulated in double (the second pass of a two-pass variance).</summary>
    public static double SumOfSquaredDeviations(ReadOnlySpan<float> x, double center)
    {
        int w = Vector<float>.Count, i = 0;
        ref float x0 = ref MemoryMarshal.GetReference(x);
        var c = new Vector<double>(center);
        Vector<double> a0 = Vector<double>.Zero, a1 = Vector<double>.Zero;
        for (; i + w <= x.Length; i += w)
        {
            Vector.Widen(Vector.LoadUnsafe(ref x0, (nuint)i), out var lo, out var hi);
            lo -= c;
            hi -= c;
            a0 += lo * lo;
            a1 += hi * hi;
        }
        double sum = Vector.Sum(a0 + a1);
        for (; i < x.Length; i++)
        {
            double d = x[i] - center;
            sum += d * d;
        }
        return sum;
    }

    /// <summary>
    /// log Σ exp(x), computed as max + log Σ exp(x − max) with the sum in double. Empty or all −∞ gives −∞; any NaN
    /// gives NaN; a +∞ (and no NaN) gives +∞.
    /// </summary>
    public static double LogSumExp(ReadOnlySpan<float> x)
    {
        if (x.IsEmpty) return double.NegativeInfinity;
        float max = TensorPrimitives.Max(x); // NaN if any element is NaN
        if (float.IsNaN(max)) return double.NaN;
        if (float.IsInfinity(max)) return max;
        return max + Math.Log(SumExpShifted(x, max));
    }

    /// <summary>
    /// Σ exp(x − shift) with exp and sum in double (x is not modified). Float exp is off by an ulp even at 0
    /// (TensorPrimitives.Exp(0) = 1 + 2⁻²³), which would shift a confident log-probability near 0 by 1.2e-7.
    /// </summary>
    internal static double SumExpShifted(ReadOnlySpan<float> x, float shift)
    {
        const int chunk = 256;
        Span<double> buffer = stackalloc double[chunk];
        int w = Vector<float>.Count, wd = Vector<double>.Count;
        var c = new Vector<double>(shift);
        double sum = 0;
        for (int start = 0; start < x.Length; start += chunk)
        {
            int n = Math.Min(chunk, x.Length - start);
            var xs = x.Slice(start, n);
            var e = buffer[..n];
            ref float x0 = ref MemoryMarshal.GetReference(xs);
            ref double e0 = ref MemoryMarshal.GetReference(e);
            int i = 0;
            for (; i + w <= n; i += w)
            {
                Vector.Widen(Vector.LoadUnsafe(ref x0, (nuint)i), out var lo, out var hi);
                (lo - c).StoreUnsafe(ref e0, (nuint)i);
                (hi - c).StoreUnsafe(ref e0, (nuint)(i + wd));
            }
            for (; i < n; i++) e[i] = (double)xs[i] - shift;
            TensorPrimitives.Exp(e, e); // full-width vectorized (Vector.Exp is several times slower)
            sum += TensorPrimitives.Sum<double>(e);
        }
        return sum;
    }

    /// <summary>sums[r] = Σ_c x[r, c] (double accumulation, rounded to float).</summary>
    public static void RowSums(ReadOnlySpan<float> x, int rows, int cols, Span<float> sums)
    {
        CheckBlock(x.Length, rows, cols);
        CheckOutput(sums.Length, rows, nameof(sums));
        for (int r = 0; r < rows; r++) sums[r] = (float)Sum(x.Slice(r * cols, cols));
    }

    /// <summary>max[r] = max_c x[r, c]; NaN if the row holds a NaN (IEEE maximum, as torch.max).</summary>
    public static void RowMax(ReadOnlySpan<float> x, int rows, int cols, Span<float> max)
    {
        CheckBlock(x.Length, rows, cols);
        if (cols == 0) throw new ArgumentException("row maximum of zero columns", nameof(cols));
        CheckOutput(max.Length, rows, nameof(max));
        for (int r = 0; r < rows; r++) max[r] = TensorPrimitives.Max(x.Slice(r * cols, cols));
    }

    /// <summary>
    /// argmax[r] = the first column holding the row's maximum. A row holding a NaN reports the first NaN's column
    /// (as TensorPrimitives.IndexOfMax and torch.argmax do).
    /// </summary>
    public static void RowArgMax(ReadOnlySpan<float> x, int rows, int cols, Span<int> argmax)
    {
        CheckBlock(x.Length, rows, cols);
        if (cols == 0) throw new ArgumentException("row argmax of zero columns", nameof(cols));
        CheckOutput(argmax.Length, rows, nameof(argmax));
        for (int r = 0; r < rows; r++) argmax[r] = TensorPrimitives.IndexOfMax(x.Slice(r * cols, cols));
    }

    /// <summary>lse[r] = log Σ_c exp(x[r, c]); special values as <see cref="LogSumExp(ReadOnlySpan{float})"/>.</summary>
    public static void RowLogSumExp(ReadOnlySpan<float> x, int rows, int cols, Span<float> lse)
    {
        CheckBlock(x.Length, rows, cols);
        CheckOutput(lse.Length, rows, nameof(lse));
        for (int r = 0; r < rows; r++) lse[r] = (float)LogSumExp(x.Slice(r * cols, cols));
    }

    /// <summary>
    /// sums[c] = Σ_r x[r, c] (a bias gradient), accumulated in double per block of columns. With
    /// <paramref name="accumulate"/> the column sums are added to what sums already holds (gradient accumulation).
    /// </summary>
    public static void ColumnSums(ReadOnlySpan<float> x, int rows, int cols, Span<float> sums, bool accumulate = false)
    {
        CheckBlock(x.Length, rows, cols);
        CheckOutput(sums.Length, cols, nameof(sums));
        ColumnBlockSums(x, rows, cols, 0, cols, sums, accumulate);
    }

    /// <summary>
    /// <see cref="ColumnSums(ReadOnlySpan{float}, int, int, Span{float}, bool)"/> for columns [firstColumn,
    /// firstColumn + columnCount) only, written to sums[firstColumn…]: each column is summed in the same order as by the
    /// whole-block call, so threads that take disjoint column ranges give the same bits.
    /// </summary>
    public static void ColumnSums(ReadOnlySpan<float> x, int rows, int cols, int firstColumn, int columnCount, Span<float> sums, bool accumulate = false)
    {
        CheckBlock(x.Length, rows, cols);
        if (firstColumn < 0 || columnCount < 0 || firstColumn + columnCount > cols)
            throw new ArgumentException($"columns [{firstColumn}, {firstColumn + columnCount}) are outside [0, {cols})");
        CheckOutput(sums.Length, cols, nameof(sums));
        ColumnBlockSums(x, rows, cols, firstColumn, columnCount, sums, accumulate);
    }

    private static void ColumnBlockSums(ReadOnlySpan<float> x, int rows, int cols, int first, int count, Span<float> sums, bool accumulate)
    {
        const int block = 128;
        Span<double> acc = stackalloc double[block];
        for (int c0 = first; c0 < first + count; c0 += block)
        {
            int n = Math.Min(block, first + count - c0);
            var a = acc[..n];
            a.Clear();
            for (int r = 0; r < rows; r++)
            {
                var xr = x.Slice(r * cols + c0, n);
                for (int j = 0; j < n; j++) a[j] += xr[j];
            }
            var s = sums.Slice(c0, n);
            for (int j = 0; j < n; j++) s[j] = accumulate ? (float)(s[j] + a[j]) : (float)a[j];
        }
    }

    internal static void CheckBlock(int length, int rows, int cols)
    {
        if (rows < 0 || cols < 0) throw new ArgumentException($"negative block size [{rows}, {cols}]");
        if ((long)rows * cols > length) throw new ArgumentException($"a [{rows}, {cols}] block needs {(long)rows * cols} elements, the span has {length}");
    }

    internal static void CheckOutput(int length, int needed, string name)
    {
        if (length < needed) throw new ArgumentException($"{name} has {length} elements, needs {needed}", name);
    }
}
