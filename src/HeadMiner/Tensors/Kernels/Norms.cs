using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace HeadMiner.Tensors.Kernels;

/// <summary>
/// LayerNorm and RMSNorm over the last axis of [rows, dim], and their backward passes.
/// <para>
/// Row statistics are accumulated in double (two-pass variance for LayerNorm) and the normalisation itself runs in
/// float with <see cref="TensorPrimitives"/>. The backward kernels recompute mean and 1/σ from x (in double, one
/// cheap pass per row) instead of asking the caller to keep them: only x must be saved from the forward pass.
/// </para>
/// <para>
/// Special values, as PyTorch: a NaN in a row makes the whole output row and its scale NaN. LayerNorm: a ±∞ also
/// makes the row NaN (the mean is ∞, x − mean is NaN or ∞). RMSNorm: a ±∞ makes σ = +∞, so that element becomes
/// NaN (∞/∞) and the row's finite elements 0 (x/∞). Other rows are never affected. A NaN/∞ in weight or bias
/// affects only its column. eps = 0 with an all-zero row (RMS) or constant row (LayerNorm) gives 0/0 = NaN.
/// </para>
/// </summary>
public static class Norms
{
    /// <summary>
    /// y = (x − mean) / sqrt(var + eps) · weight + bias. An empty weight or bias means "none" (a folded LayerNorm).
    /// If <paramref name="scale"/> is not empty it receives sqrt(var + eps) per row (TransformerLens's hook_scale).
    /// x and y may be the same span.
    /// </summary>
    public static void LayerNorm(ReadOnlySpan<float> x, Span<float> y, int rows, int dim,
        ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, float eps, Span<float> scale = default)
    {
        CheckShapes(x.Length, y.Length, rows, dim, weight, bias, scale);
        for (int r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * dim, dim);
            var yr = y.Slice(r * dim, dim);
            var (mean, sigma) = LayerNormStatistics(xr, eps);
            if (!scale.IsEmpty) scale[r] = (float)sigma;
            TensorPrimitives.Subtract(xr, (float)mean, yr);
            TensorPrimitives.Multiply(yr, (float)(1.0 / sigma), yr);
            if (!weight.IsEmpty && !bias.IsEmpty) TensorPrimitives.FusedMultiplyAdd(yr, weight, bias, yr);
            else if (!weight.IsEmpty) TensorPrimitives.Multiply(yr, weight, yr);
            else if (!bias.IsEmpty) TensorPrimitives.Add(yr, bias, yr);
        }
    }

    /// <summary>y = x / sqrt(mean(x²) + eps) · weight. <paramref name="scale"/> (optional) receives sqrt(mean(x²) + eps).</summary>
    public static void RmsNorm(ReadOnlySpan<float> x, Span<float> y, int rows, int dim,
        ReadOnlySpan<float> weight, float eps, Span<float> scale = default)
    {
        CheckShapes(x.Length, y.Length, rows, dim, weight, default, scale);
        for (int r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * dim, dim);
            var yr = y.Slice(r * dim, dim);
            double sigma = RmsStatistic(xr, eps);
            if (!scale.IsEmpty) scale[r] = (float)sigma;
            TensorPrimitives.Multiply(xr, (float)(1.0 / sigma), yr);
            if (!weight.IsEmpty) TensorPrimitives.Multiply(yr, weight, yr);
        }
    }

    // ---- backward ------------------------------------------------------------------------------------------

    /// <summary>
    /// Backward of <see cref="LayerNorm"/>, given the forward input x and the output gradient dy:
    /// with x̂ = (x − mean)/σ and g = dy·weight, dx = (g − mean(g) − x̂·mean(g·x̂)) / σ.
    /// <paramref name="dweight"/> += Σ_rows dy·x̂ and <paramref name="dbias"/> += Σ_rows dy are <b>accumulated</b>
    /// (the caller zeroes them once per step); leave either empty to skip it. An empty weight means weight = 1.
    /// dx may be the same span as x or dy. Mean and σ are recomputed from x.
    /// </summary>
    public static void LayerNormBackward(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx, int rows, int dim,
        ReadOnlySpan<float> weight, float eps, Span<float> dweight = default, Span<float> dbias = default)
    {
        CheckShapes(x.Length, dx.Length, rows, dim, weight, default, default);
        Reductions.CheckBlock(dy.Length, rows, dim);
        CheckOptional(dweight.Length, dim, nameof(dweight));
        CheckOptional(dbias.Length, dim, nameof(dbias));
        for (int r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * dim, dim);
            var dyr = dy.Slice(r * dim, dim);
            var (mean, sigma) = LayerNormStatistics(xr, eps);
            NormBackwardRow(xr, dyr, dx.Slice(r * dim, dim), weight, mean, 1.0 / sigma, centered: true, dweight, dbias);
        }
    }

    /// <summary>
    /// The parameter-gradient half of <see cref="LayerNormBackward"/> for columns [firstColumn, firstColumn +
    /// columnCount) only: dweight and dbias (either empty to skip) are <b>accumulated</b> over the rows with exactly the
    /// per-element arithmetic of the whole-row kernel (float FMA on the columns its vector loop covers, double on its
    /// tail), so threads taking disjoint column ranges, after a row-split dx pass without parameter gradients, give
    /// the single-threaded bits. Each call recomputes the row statistics.
    /// </summary>
    public static void LayerNormParameterGradients(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, int rows, int dim, float eps,
        int firstColumn, int columnCount, Span<float> dweight, Span<float> dbias)
    {
        if (dim <= 0) throw new ArgumentOutOfRangeException(nameof(dim), $"normalised dimension {dim} must be positive");
        Reductions.CheckBlock(x.Length, rows, dim);
        Reductions.CheckBlock(dy.Length, rows, dim);
        CheckOptional(dweight.Length, dim, nameof(dweight));
        CheckOptional(dbias.Length, dim, nameof(dbias));
        if (firstColumn < 0 || columnCount < 0 || firstColumn + columnCount > dim)
            throw new ArgumentException($"columns [{firstColumn}, {firstColumn + columnCount}) are outside [0, {dim})");
        int w = Vector<float>.Count, vectorEnd = dim / w * w, end = firstColumn + columnCount;
        for (int r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * dim, dim);
            var dyr = dy.Slice(r * dim, dim);
            if (!dbias.IsEmpty) TensorPrimitives.Add(dbias[firstColumn..end], dyr[firstColumn..end], dbias[firstColumn..end]);
            if (dweight.IsEmpty) continue;
            var (mean, sigma) = LayerNormStatistics(xr, eps);
            double rstd = 1.0 / sigma;
            float cF = (float)mean, rsF = (float)rstd;
            int i = firstColumn;
            if (i % w == 0)
            {
                var cV = new Vector<float>(cF);
                var rsV = new Vector<float>(rsF);
                for (; i + w <= Math.Min(end, vectorEnd); i += w)
                {
                    var xhat = (new Vector<float>(xr.Slice(i, w)) - cV) * rsV;
                    Vector.FusedMultiplyAdd(new Vector<float>(dyr.Slice(i, w)), xhat, new Vector<float>(dweight.Slice(i, w))).CopyTo(dweight.Slice(i, w));
                }
            }
            for (; i < Math.Min(end, vectorEnd); i++) dweight[i] = MathF.FusedMultiplyAdd(dyr[i], (xr[i] - cF) * rsF, dweight[i]);
            for (; i < end; i++) dweight[i] += (float)(dyr[i] * ((xr[i] - mean) * rstd));
        }
    }

    /// <summary>
    /// Backward of <see cref="RmsNorm"/>: with x̂ = x/σ and g = dy·weight, dx = (g − x̂·mean(g·x̂)) / σ;
    /// <paramref name="dweight"/> += Σ_rows dy·x̂ is <b>accumulated</b> (empty to skip). dx may be the same span as x or dy.
    /// </summary>
    public static void RmsNormBackward(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx, int rows, int dim,
        ReadOnlySpan<float> weight, float eps, Span<float> dweight = default)
    {
        CheckShapes(x.Length, dx.Length, rows, dim, weight, default, default);
        Reductions.CheckBlock(dy.Length, rows, dim);
        CheckOptional(dweight.Length, dim, nameof(dweight));
        for (int r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * dim, dim);
            double sigma = RmsStatistic(xr, eps);
            NormBackwardRow(xr, dy.Slice(r * dim, dim), dx.Slice(r * dim, dim), weight, 0, 1.0 / sigma, centered: false, dweight, default);
        }
    }

    /// <summary>
    /// One row of either backward pass, in double: dx = (g − [mean(g)] − x̂·mean(g·x̂))·rstd with x̂ = (x − center)·rstd.
    /// Double matters when dy is nearly parallel to x̂ (always so at dim = 1): the result is then the small remainder
    /// of a cancellation that float would bury in rounding.
    /// </summary>
    private static void NormBackwardRow(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx, ReadOnlySpan<float> weight,
        double center, double rstd, bool centered, Span<float> dweight, Span<float> dbias)
    {
        int dim = x.Length, w = Vector<float>.Count, i;
        bool hasWeight = !weight.IsEmpty;
        ref float x0 = ref MemoryMarshal.GetReference(x);
        ref float dy0 = ref MemoryMarshal.GetReference(dy);
        ref float w0 = ref MemoryMarshal.GetReference(weight);
        ref float dx0 = ref MemoryMarshal.GetReference(dx);
        var c = new Vector<double>(center);
        var rs = new Vector<double>(rstd);

        // Pass 1: Σ g and Σ g·x̂.
        Vector<double> sumG = Vector<double>.Zero, sumGX = Vector<double>.Zero;
        for (i = 0; i + w <= dim; i += w)
        {
            Vector.Widen(Vector.LoadUnsafe(ref x0, (nuint)i), out var xLo, out var xHi);
            Vector.Widen(hasWeight ? Vector.LoadUnsafe(ref dy0, (nuint)i) * Vector.LoadUnsafe(ref w0, (nuint)i) : Vector.LoadUnsafe(ref dy0, (nuint)i), out var gLo, out var gHi);
            sumG += gLo + gHi;
            sumGX += gLo * ((xLo - c) * rs) + gHi * ((xHi - c) * rs);
        }
        double sg = Vector.Sum(sumG), sgx = Vector.Sum(sumGX);
        for (; i < dim; i++)
        {
            double g = hasWeight ? dy[i] * weight[i] : dy[i];
            sg += g;
            sgx += g * ((x[i] - center) * rstd);
        }

        // Parameter gradients (float accumulation into the caller's buffers), before dx may overwrite x or dy.
        if (!dbias.IsEmpty) TensorPrimitives.Add(dbias, dy, dbias);
        if (!dweight.IsEmpty)
        {
            ref float dw0 = ref MemoryMarshal.GetReference(dweight);
            var cF = new Vector<float>((float)center);
            var rsF = new Vector<float>((float)rstd);
            for (i = 0; i + w <= dim; i += w)
            {
                var xhat = (Vector.LoadUnsafe(ref x0, (nuint)i) - cF) * rsF;
                Vector.FusedMultiplyAdd(Vector.LoadUnsafe(ref dy0, (nuint)i), xhat, Vector.LoadUnsafe(ref dw0, (nuint)i)).StoreUnsafe(ref dw0, (nuint)i);
            }
            for (; i < dim; i++) dweight[i] += (float)(dy[i] * ((x[i] - center) * rstd));
        }

        // Pass 2: dx, elementwise.
        var meanG = new Vector<double>(centered ? sg / dim : 0);
        var meanGX = new Vector<double>(sgx / dim);
        for (i = 0; i + w <= dim; i += w)
        {
            Vector.Widen(Vector.LoadUnsafe(ref x0, (nuint)i), out var xLo, out var xHi);
            Vector.Widen(hasWeight ? Vector.LoadUnsafe(ref dy0, (nuint)i) * Vector.LoadUnsafe(ref w0, (nuint)i) : Vector.LoadUnsafe(ref dy0, (nuint)i), out var gLo, out var gHi);
            var lo = (gLo - meanG - (xLo - c) * rs * meanGX) * rs;
            var hi = (gHi - meanG - (xHi - c) * rs * meanGX) * rs;
            Vector.Narrow(lo, hi).StoreUnsafe(ref dx0, (nuint)i);
        }
        double mg = meanG[0], mgx = meanGX[0];
        for (; i < dim; i++)
        {
            double g = hasWeight ? dy[i] * weight[i] : dy[i];
            dx[i] = (float)((g - mg - (x[i] - center) * rstd * mgx) * rstd);
        }
    }

    // ---- helpers -------------------------------------------------------------------------------------------

    /// <summary>Row mean and σ = sqrt(var + eps) (biased variance, as torch.nn.LayerNorm), two-pass in double.</summary>
    private static (double Mean, double Sigma) LayerNormStatistics(ReadOnlySpan<float> row, float eps)
    {
        double mean = Reductions.Sum(row) / row.Length;
        double variance = Reductions.SumOfSquaredDeviations(row, mean) / row.Length;
        return (mean, Math.Sqrt(variance + eps));
    }

    private static double RmsStatistic(ReadOnlySpan<float> row, float eps) =>
        Math.Sqrt(Reductions.SumOfSquaredDeviations(row, 0) / row.Length + eps);

    private static void CheckShapes(int xLength, int yLength, int rows, int dim, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, ReadOnlySpan<float> scale)
    {
        if (dim <= 0) throw new ArgumentOutOfRangeException(nameof(dim), $"normalised dimension {dim} must be positive");
        Reductions.CheckBlock(xLength, rows, dim);
        Reductions.CheckBlock(yLength, rows, dim);
        CheckOptional(weight.Length, dim, nameof(weight));
        CheckOptional(bias.Length, dim, nameof(bias));
        if (!scale.IsEmpty && scale.Length < rows) throw new ArgumentException($"scale has {scale.Length} elements, needs {rows}", nameof(scale));
    }

    private static void CheckOptional(int length, int dim, string name)
    {
        if (length != 0 && length != dim) throw new ArgumentException($"{name} has {length} elements, expected {dim} (or none)", name);
    }
}
