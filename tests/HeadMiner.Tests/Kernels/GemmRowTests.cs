using HeadMiner.Models.Formats;
using HeadMiner.Tensors;
using HeadMiner.Tensors.Kernels;
using HeadMiner.Tests.Reference;

namespace HeadMiner.Tests.Kernels;

/// <summary>
/// One-row products (the decode GEMV): each row computed alone equals, bit for bit, the same row computed inside a
/// batch of rows (the blocked driver), for float32 and 16-bit B, both B layouts, widths that cut the 32-wide panels
/// and the 128-wide groups, depths of one and several kc slices, alpha/beta, and one or two threads; and it stays
/// within the float32 bound of <see cref="ReferenceGemm"/>.
/// </summary>
[Collection(ThreadSettingCollection.Name)]
public class GemmRowTests
{
    public static TheoryData<int, bool, int, int> Shapes()
    {
        var data = new TheoryData<int, bool, int, int>();
        foreach (int format in new[] { -1, (int)HalfFormat.BFloat16, (int)HalfFormat.Float16 })
            foreach (bool transB in new[] { false, true })
                foreach (var (n, k) in new[] { (1, 1), (31, 17), (33, 40), (128, 385), (161, 64), (300, 800), (1000, 37) })
                    data.Add(format, transB, n, k);
        return data;
    }

    /// <summary>As below with 130 rows and a depth of 2,100: the few-rows order over a deep A (11 tiles), against rows alone.</summary>
    [Theory]
    [InlineData((int)HalfFormat.BFloat16, true, 77, 2100)]
    [InlineData(-1, true, 77, 2100)]
    [InlineData(-1, false, 40, 2100)]
    public void RowsOfADeepFewRowsProductEqualEachRowAlone(int format, bool transB, int n, int k) => CheckRowsAgainstRowsAlone(format, transB, n, k, m: 130);

    [Theory]
    [MemberData(nameof(Shapes))]
    public void ARowAloneEqualsTheSameRowInABatch(int format, bool transB, int n, int k) => CheckRowsAgainstRowsAlone(format, transB, n, k, m: 5);

    private static void CheckRowsAgainstRowsAlone(int format, bool transB, int n, int k, int m)
    {
        int ldb = (transB ? k : n) + 2, ldc = n + 1;
        var random = new SeededRandom((ulong)(n * 31 + k));
        var a = new float[m * k];
        random.FillNormal(a, 1f);
        var values = new float[(transB ? n : k) * ldb];
        random.FillNormal(values, 1f);
        var bits = new ushort[values.Length];
        if (format == (int)HalfFormat.BFloat16) HalfPrecision.FloatToBf16(values, bits);
        else if (format == (int)HalfFormat.Float16) HalfPrecision.FloatToF16(values, bits);
        var widened = format < 0 ? values : bits.Select(h => format == (int)HalfFormat.BFloat16 ? HalfPrecision.Bf16ToFloat(h) : HalfPrecision.F16ToFloat(h)).ToArray();
        var c = new float[m * ldc];
        random.FillNormal(c, 1f);

        void Product(int rows, ReadOnlySpan<float> x, float alpha, float beta, Span<float> y)
        {
            if (format < 0) Gemm.Multiply(false, transB, rows, n, k, alpha, x, k, values, ldb, beta, y, ldc);
            else Gemm.Multiply(false, transB, rows, n, k, alpha, x, k, bits, (HalfFormat)format, ldb, beta, y, ldc);
        }

        int saved = WorkerPool.MaxThreads;
        try
        {
            foreach (var (alpha, beta) in new[] { (1f, 0f), (-1.5f, 0.5f) })
            {
                var batched = (float[])c.Clone();
                Product(m, a, alpha, beta, batched);
                var (reference, magnitude) = ReferenceGemm.Multiply(false, transB, m, n, k, alpha, a, k, widened, ldb, beta, c, ldc);
                foreach (int threads in new[] { 1, 2 })
                {
                    WorkerPool.MaxThreads = threads;
                    for (int i = 0; i < m; i++)
                    {
                        var alone = c.AsSpan(i * ldc, ldc).ToArray();
                        Product(1, a.AsSpan(i * k, k), alpha, beta, alone);
                        Assert.Equal(batched.AsSpan(i * ldc, ldc).ToArray(), alone);
                        for (int j = 0; j < n; j++)
                            Assert.True(Math.Abs(alone[j] - reference[i * n + j]) <= 1e-5 * magnitude[i * n + j], $"row {i}, column {j}: {alone[j]} vs {reference[i * n + j]}");
                    }
                }
            }
        }
        finally
        {
            WorkerPool.MaxThreads = saved;
        }
    }
}
