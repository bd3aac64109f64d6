using HeadMiner.Models.Formats;
using HeadMiner.Tensors;
using HeadMiner.Tensors.Kernels;
using HeadMiner.Tensors.Kernels.GemmParts;
using HeadMiner.Tests.Reference;

namespace HeadMiner.Tests.Kernels;

/// <summary>
/// The GEMM with a 16-bit B (BF16/F16 weights kept as stored, widened inside the packing) against two yardsticks:
/// bit for bit the float32 GEMM on B's widened values (widened here one scalar at a time by
/// <see cref="HalfPrecision"/>, independently of the kernels' vector widening), and <see cref="ReferenceGemm"/> in
/// double within the float32 GEMM's own bound (1e-5 of the terms' magnitude). Every transpose pair, odd sizes that cut
/// every tile and panel edge, padded leading dimensions whose padding holds NaN (so a read of it would show), and
/// every kernel path.
/// </summary>
[Collection(ThreadSettingCollection.Name)]
public class HalfGemmTests
{
    private const double Tolerance = 1e-5;
    private const ushort NanBits = 0x7FC1; // a NaN in both formats

    public static TheoryData<HalfFormat, bool, bool, int, int, int> Shapes()
    {
        var data = new TheoryData<HalfFormat, bool, bool, int, int, int>();
        (int M, int N, int K)[] shapes =
        [
            (1, 1, 1), (1, 45, 37), (7, 33, 17), (13, 65, 31), (29, 31, 127), (12, 32, 16), (25, 97, 400), (3, 130, 769),
        ];
        foreach (var format in new[] { HalfFormat.BFloat16, HalfFormat.Float16 })
            foreach (bool transA in new[] { false, true })
                foreach (bool transB in new[] { false, true })
                    foreach (var (m, n, k) in shapes)
                        data.Add(format, transA, transB, m, n, k);
        return data;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void SixteenBitBEqualsTheFloat32ProductOfItsWidenedValues(HalfFormat format, bool transA, bool transB, int m, int n, int k)
    {
        foreach (var path in new[] { GemmKernelPath.Auto, GemmKernelPath.Avx2, GemmKernelPath.Scalar })
        {
            GemmKernelPaths.t_forced = path;
            try
            {
                Check(format, transA, transB, m, n, k, alpha: 1f, beta: 0f, extraLd: 3, seed: (ulong)(m * 7 + n * 3 + k));
                Check(format, transA, transB, m, n, k, alpha: -0.75f, beta: 0.5f, extraLd: 0, seed: (ulong)(m + n + k));
            }
            finally
            {
                GemmKernelPaths.t_forced = GemmKernelPath.Auto;
            }
        }
    }

    [Theory]
    [InlineData(HalfFormat.BFloat16, false, true, 128, 300, 130)] // few-rows order
    [InlineData(HalfFormat.Float16, false, false, 200, 600, 900)] // general order on 1 thread, few-rows order on 2
    [InlineData(HalfFormat.BFloat16, false, true, 1100, 90, 300)] // general order on 2 threads too
    [InlineData(HalfFormat.BFloat16, true, true, 40, 300, 1100)] // general order, one row block split by columns
    public void OneAndTwoThreadsAgreeBitForBit(HalfFormat format, bool transA, bool transB, int m, int n, int k)
    {
        int saved = WorkerPool.MaxThreads;
        try
        {
            WorkerPool.MaxThreads = 1;
            var one = Check(format, transA, transB, m, n, k, 1f, 0.25f, 2, 5);
            WorkerPool.MaxThreads = 2;
            var two = Check(format, transA, transB, m, n, k, 1f, 0.25f, 2, 5);
            Assert.Equal(one, two);
        }
        finally
        {
            WorkerPool.MaxThreads = saved;
        }
    }

    [Fact]
    public void ShortSixteenBitSpansAreRejected()
    {
        var a = new float[6];
        var c = new float[4];
        Assert.Throws<ArgumentException>(() => Gemm.Multiply(false, true, 2, 2, 3, 1f, a, 3, new ushort[5], HalfFormat.BFloat16, 3, 0f, c, 2));
        Assert.Throws<ArgumentException>(() => Gemm.Multiply(false, false, 2, 2, 3, 1f, a, 3, new ushort[6], HalfFormat.Float16, 1, 0f, c, 2));
    }

    /// <summary>Runs one product both ways, asserts bitwise equality and the reference bound, and returns the 16-bit result.</summary>
    private static float[] Check(HalfFormat format, bool transA, bool transB, int m, int n, int k, float alpha, float beta, int extraLd, ulong seed)
    {
        int lda = (transA ? m : k) + extraLd, ldb = (transB ? k : n) + extraLd, ldc = n + extraLd;
        int bRows = transB ? n : k, bWidth = transB ? k : n;
        var random = new SeededRandom(seed);
        var a = Filled(random, (transA ? k : m) * lda);
        var c = Filled(random, m * ldc);
        var bits = new ushort[Math.Max(0, (bRows - 1) * ldb + bWidth)];
        var widened = new float[bits.Length];
        Array.Fill(bits, NanBits);
        Array.Fill(widened, float.NaN);
        var row = new float[bWidth];
        for (int r = 0; r < bRows; r++)
        {
            random.FillNormal(row, 1f);
            for (int j = 0; j < bWidth; j++)
            {
                ushort h = format == HalfFormat.BFloat16 ? HalfPrecision.FloatToBf16(row[j]) : HalfPrecision.FloatToF16(row[j]);
                bits[r * ldb + j] = h;
                widened[r * ldb + j] = format == HalfFormat.BFloat16 ? HalfPrecision.Bf16ToFloat(h) : HalfPrecision.F16ToFloat(h);
            }
        }
        var expected = (float[])c.Clone();
        Gemm.Multiply(transA, transB, m, n, k, alpha, a, lda, widened, ldb, beta, expected, ldc);
        var actual = (float[])c.Clone();
        Gemm.Multiply(transA, transB, m, n, k, alpha, a, lda, bits, format, ldb, beta, actual, ldc);
        Assert.Equal(expected, actual);

        var (reference, magnitude) = ReferenceGemm.Multiply(transA, transB, m, n, k, alpha, a, lda, widened, ldb, beta, c, ldc);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double error = Math.Abs(actual[i * ldc + j] - reference[i * n + j]);
                Assert.True(error <= Tolerance * magnitude[i * n + j], $"C[{i},{j}] = {actual[i * ldc + j]}, expected {reference[i * n + j]} ({format}, m={m} n={n} k={k})");
            }
        return actual;
    }

    private static float[] Filled(SeededRandom random, int count)
    {
        var values = new float[count];
        random.FillNormal(values, 1f);
        return values;
    }
}
