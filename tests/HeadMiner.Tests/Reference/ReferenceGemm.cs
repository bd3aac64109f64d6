namespace HeadMiner.Tests.Reference;

/// <summary>
/// The obvious triple loop, accumulated in double: the yardstick for <c>Gemm</c>. Besides the expected C it returns,
/// per element, the size of the terms that went into it, |alpha|·Σ|a||b| + |beta·c|, so a test can bound the
/// float32 rounding error relative to that (an absolute-value norm that cancellation cannot shrink).
/// </summary>
public static class ReferenceGemm
{
    public static (double[] Expected, double[] Magnitude) Multiply(bool transA, bool transB, int m, int n, int k,
        float alpha, ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, ReadOnlySpan<float> c, int ldc)
    {
        var expected = new double[m * n];
        var magnitude = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double sum = 0, size = 0;
                if (alpha != 0) // BLAS: alpha = 0 means A and B are not read
                    for (int p = 0; p < k; p++)
                    {
                        double x = transA ? a[p * lda + i] : a[i * lda + p];
                        double y = transB ? b[j * ldb + p] : b[p * ldb + j];
                        sum += x * y;
                        size += Math.Abs(x * y);
                    }
                double old = beta == 0 ? 0 : (double)beta * c[i * ldc + j]; // beta = 0: C is write-only
                expected[i * n + j] = alpha * sum + old;
                magnitude[i * n + j] = Math.Abs(alpha) * size + Math.Abs(old);
            }
        return (expected, magnitude);
    }
}
