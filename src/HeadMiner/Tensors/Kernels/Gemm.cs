namespace HeadMiner.Tensors.Kernels;

/// <summary>
/// Single-precision matrix multiply, BLAS semantics on row-major storage:
/// C[m×n] = alpha · op(A) · op(B) + beta · C.
/// op(A) is m×k: A is stored m×k (row stride lda) or, when <c>transA</c>, k×m (row stride lda); likewise B.
/// beta = 0 means C is write-only (NaNs already in C do not leak through).
/// </summary>
public static class Gemm
{
    public static void Multiply(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
    {
        // Placeholder: correct and slow; replaced by the packed, threaded kernel.
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                float sum = 0;
                for (int p = 0; p < k; p++)
                    sum += (transA ? a[p * lda + i] : a[i * lda + p]) * (transB ? b[j * ldb + p] : b[p * ldb + j]);
                c[i * ldc + j] = alpha * sum + (beta == 0 ? 0 : beta * c[i * ldc + j]);
            }
    }

    /// <summary><paramref name="batch"/> independent products; matrix t of A starts at t·strideA (likewise B, C). A stride of 0 broadcasts.</summary>
    public static void MultiplyBatched(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, long strideA, ReadOnlySpan<float> b, int ldb, long strideB,
        float beta, Span<float> c, int ldc, long strideC, int batch)
    {
        for (int t = 0; t < batch; t++)
            Multiply(transA, transB, m, n, k, alpha, a[(int)(t * strideA)..], lda, b[(int)(t * strideB)..], ldb, beta, c[(int)(t * strideC)..], ldc);
    }
}
