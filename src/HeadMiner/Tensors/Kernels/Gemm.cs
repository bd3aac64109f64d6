using HeadMiner.Tensors.Kernels.GemmParts;

namespace HeadMiner.Tensors.Kernels;

/// <summary>
/// Single-precision matrix multiply, BLAS semantics on row-major storage:
/// C[m×n] = alpha · op(A) · op(B) + beta · C.
/// op(A) is m×k: A is stored m×k (row stride lda) or, when <c>transA</c>, k×m (row stride lda); likewise B
/// (k×n, or n×k when <c>transB</c>, row stride ldb). C is m×n with row stride ldc.
/// </summary>
/// <remarks>
/// <para>beta = 0 means C is write-only (NaNs already in C do not leak through). As in reference BLAS, alpha = 0 or
/// k = 0 means A and B are not read: C becomes beta·C. m = 0 or n = 0 leaves C untouched.</para>
/// <para>A leading dimension must be at least the stored row's width, and every span long enough for the rows it
/// holds ((rows − 1)·ld + width); otherwise <see cref="ArgumentException"/>.</para>
/// <para>Implementation: Goto/BLIS-style packed panels and a register-blocked FMA micro-kernel (12×32 on AVX-512,
/// 6×16 on AVX2, a scalar loop elsewhere), on up to <see cref="WorkerPool.MaxThreads"/> threads; one row (m = 1) on
/// AVX-512 runs as a GEMV (<c>GemmRowDriver</c>). Results do not depend on the thread count, nor on how many rows
/// a call holds: every element is summed in the same order whatever the split.</para>
/// </remarks>
public static class Gemm
{
    // Below this many multiply-adds (≈ 30 µs on one core) a second thread costs more than it saves.
    internal const long MinMultiplyAddsPerThread = 1L << 22;

    public static unsafe void Multiply(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        ValidateShape(m, n, k);
        ValidateOperand(a.Length, transA ? k : m, transA ? m : k, lda, 0, 1, nameof(a), nameof(lda));
        ValidateOperand(b.Length, transB ? n : k, transB ? k : n, ldb, 0, 1, nameof(b), nameof(ldb));
        ValidateOperand(c.Length, m, n, ldc, 0, 1, nameof(c), nameof(ldc));
        if (m == 0 || n == 0) return;
        if (k == 0 || alpha == 0)
        {
            ScaleC(c, m, n, ldc, beta);
            return;
        }

        fixed (float* pa = a, pb = b, pc = c)
        {
            var op = new GemmOperands(transA, transB, k, alpha, pa, lda, pb, ldb, beta, pc, ldc);
            RunOne(op, GemmKernelPaths.Current, m, n);
        }
    }

    /// <summary>
    /// The same product with B stored in 16 bits (BF16 or F16 bit patterns, e.g. mapped checkpoint weights; strides in
    /// 16-bit elements). B is widened to float32 inside the packing, never as a whole; the arithmetic is float32 and
    /// the result is bit for bit the product with B's widened values.
    /// </summary>
    public static unsafe void Multiply(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<ushort> b, HalfFormat bFormat, int ldb, float beta, Span<float> c, int ldc)
    {
        ValidateShape(m, n, k);
        ValidateOperand(a.Length, transA ? k : m, transA ? m : k, lda, 0, 1, nameof(a), nameof(lda));
        ValidateOperand(b.Length, transB ? n : k, transB ? k : n, ldb, 0, 1, nameof(b), nameof(ldb));
        ValidateOperand(c.Length, m, n, ldc, 0, 1, nameof(c), nameof(ldc));
        if (m == 0 || n == 0) return;
        if (k == 0 || alpha == 0)
        {
            ScaleC(c, m, n, ldc, beta);
            return;
        }

        fixed (float* pa = a, pc = c)
        fixed (ushort* pb = b)
        {
            var op = GemmOperands.WithHalfB(new GemmOperands(transA, transB, k, alpha, pa, lda, null, ldb, beta, pc, ldc), pb, bFormat);
            RunOne(op, GemmKernelPaths.Current, m, n);
        }
    }

    /// <summary>
    /// The same product with B packed ahead of time (<see cref="PackedGemmB"/>, e.g. a weight matrix packed once for
    /// many forwards): bit for bit the product with the original B, minus the packing.
    /// </summary>
    public static unsafe void Multiply(bool transA, int m, float alpha, ReadOnlySpan<float> a, int lda, PackedGemmB b,
        float beta, Span<float> c, int ldc)
    {
        ArgumentNullException.ThrowIfNull(b);
        int n = b.N, k = b.K;
        ValidateShape(m, n, k);
        ValidateOperand(a.Length, transA ? k : m, transA ? m : k, lda, 0, 1, nameof(a), nameof(lda));
        ValidateOperand(c.Length, m, n, ldc, 0, 1, nameof(c), nameof(ldc));
        if (m == 0 || n == 0) return;
        if (k == 0 || alpha == 0)
        {
            ScaleC(c, m, n, ldc, beta);
            return;
        }

        GemmKernelPath path = GemmKernelPaths.Current;
        float* panels = m > 1 ? b.PanelsFor(path) : null; // one row: the GEMV reads B once either way
        using var pinB = b.Original.Pin();
        fixed (float* pa = a, pc = c)
        {
            var op = new GemmOperands(transA, b.TransB, k, alpha, pa, lda, (float*)pinB.Pointer, b.Ldb, beta, pc, ldc);
            if (panels != null) op = GemmOperands.WithPackedB(op, panels);
            RunOne(op, path, m, n);
        }
        b.KeepAlive();
    }

    /// <summary><paramref name="batch"/> independent products; matrix t of A starts at t·strideA (likewise B, C). A stride of 0 broadcasts.</summary>
    /// <remarks>
    /// Many small products (e.g. one per attention head) run in parallel over the batch; a few large ones each run in
    /// parallel. With strideC = 0 the items update the one C in turn, item 0 first (each scales it by beta and adds
    /// its product), exactly as a loop of <see cref="Multiply(bool, bool, int, int, int, float, ReadOnlySpan{float}, int, ReadOnlySpan{float}, int, float, Span{float}, int)"/> calls would.
    /// </remarks>
    public static unsafe void MultiplyBatched(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, long strideA, ReadOnlySpan<float> b, int ldb, long strideB,
        float beta, Span<float> c, int ldc, long strideC, int batch)
    {
        ValidateShape(m, n, k);
        ArgumentOutOfRangeException.ThrowIfNegative(batch);
        ValidateOperand(a.Length, transA ? k : m, transA ? m : k, lda, strideA, batch, nameof(a), nameof(lda));
        ValidateOperand(b.Length, transB ? n : k, transB ? k : n, ldb, strideB, batch, nameof(b), nameof(ldb));
        ValidateOperand(c.Length, m, n, ldc, strideC, batch, nameof(c), nameof(ldc));
        if (m == 0 || n == 0 || batch == 0) return;
        if (k == 0 || alpha == 0)
        {
            for (int t = 0; t < batch; t++) ScaleC(c[(int)(t * strideC)..], m, n, ldc, beta);
            return;
        }

        fixed (float* pa = a, pb = b, pc = c)
        {
            var op = new GemmOperands(transA, transB, k, alpha, pa, lda, pb, ldb, beta, pc, ldc);
            GemmKernelPath path = GemmKernelPaths.Current;
            int threads = WorkerPool.InsideParallelRegion ? 1 : WorkerPool.MaxThreads;
            long itemWork = (long)m * n * k;
            bool overBatch = strideC != 0 && threads > 1 && batch > 1 && path != GemmKernelPath.Scalar
                && (batch % threads == 0 || batch >= 4 * threads || itemWork < MinMultiplyAddsPerThread * threads);
            if (overBatch)
            {
                RunBatch(op, path, m, n, strideA, strideB, strideC, batch);
                return;
            }
            // Few large items (or all writing one C: stride 0 makes them accumulate in order): one at a time.
            for (int t = 0; t < batch; t++) RunOne(op.Offset(t * strideA, t * strideB, t * strideC), path, m, n);
        }
    }

    /// <summary>One product, on several threads when it is big enough to pay.</summary>
    private static void RunOne(in GemmOperands op, GemmKernelPath path, int m, int n)
    {
        long work = (long)m * n * op.K;
        int threads = WorkerPool.InsideParallelRegion ? 1 : (int)Math.Min(WorkerPool.MaxThreads, Math.Max(1, work / MinMultiplyAddsPerThread));
        switch (path)
        {
            case GemmKernelPath.Avx512 when m == 1:
                GemmRowDriver.Run(op, n); // decode: bound by reading B once; same sums as the blocked driver
                break;
            case GemmKernelPath.Avx512:
                GemmParallelJob<MicroKernel12x32Avx512>.Run(op, m, n, threads);
                break;
            case GemmKernelPath.Avx2:
                GemmParallelJob<MicroKernel6x16Avx2>.Run(op, m, n, threads);
                break;
            default:
                GemmScalarDriver.Run(op, 0, m, 0, n); // the portable fallback stays single-threaded
                break;
        }
    }

    private static void RunBatch(in GemmOperands op, GemmKernelPath path, int m, int n, long strideA, long strideB, long strideC, int batch)
    {
        switch (path)
        {
            case GemmKernelPath.Avx512:
                GemmParallelJob<MicroKernel12x32Avx512>.RunBatch(op, m, n, strideA, strideB, strideC, batch);
                break;
            case GemmKernelPath.Avx2:
                GemmParallelJob<MicroKernel6x16Avx2>.RunBatch(op, m, n, strideA, strideB, strideC, batch);
                break;
            default:
                for (int t = 0; t < batch; t++) GemmScalarDriver.Run(op.Offset(t * strideA, t * strideB, t * strideC), 0, m, 0, n);
                break;
        }
    }

    internal static void ScaleC(Span<float> c, int m, int n, int ldc, float beta)
    {
        for (int i = 0; i < m; i++)
        {
            Span<float> row = c.Slice(i * ldc, n);
            if (beta == 0) row.Clear();
            else if (beta != 1) System.Numerics.Tensors.TensorPrimitives.Multiply(row, beta, row);
        }
    }

    internal static void ValidateShape(int m, int n, int k)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(m);
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        ArgumentOutOfRangeException.ThrowIfNegative(k);
    }

    /// <summary>Checks that a span holds <paramref name="count"/> matrices of rows×width with row stride ld, <paramref name="stride"/> apart.</summary>
    internal static void ValidateOperand(int length, int rows, int width, int ld, long stride, int count,
        string spanName, string ldName)
    {
        if (rows == 0 || width == 0 || count == 0) return;
        if (ld < width)
            throw new ArgumentException($"{ldName} = {ld} is less than the stored row width {width}.", ldName);
        if (stride < 0)
            throw new ArgumentException($"The batch stride of {spanName} is negative ({stride}).", spanName);
        long needed = (count - 1) * stride + (long)(rows - 1) * ld + width;
        if (length < needed)
            throw new ArgumentException(
                $"{spanName} has {length} elements but a {rows}×{width} matrix with leading dimension {ld}"
                + (count > 1 ? $", {count} of them {stride} apart," : "") + $" needs {needed}.", spanName);
    }
}
