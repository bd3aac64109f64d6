using HeadMiner.Tensors;
using HeadMiner.Tensors.Kernels;
using HeadMiner.Tensors.Kernels.GemmParts;
using HeadMiner.Tests.Reference;

namespace HeadMiner.Tests.Kernels;

/// <summary>
/// A B packed ahead of time (<see cref="PackedGemmB"/>) must give bit for bit the product with the original B, in both
/// loop orders, on one and two threads, on every kernel path; and the product itself must be right (against
/// <see cref="ReferenceGemm"/>, so a packing that agreed with a broken driver would still fail).
/// </summary>
[Collection(ThreadSettingCollection.Name)]
public class PackedGemmBTests
{
    private const float Padding = 777.25f;

    private static float[] Matrix(int rows, int width, int ld, ulong seed)
    {
        var values = new float[(rows - 1) * ld + width];
        Array.Fill(values, Padding);
        var random = new SeededRandom(seed);
        var row = new float[width];
        for (int r = 0; r < rows; r++)
        {
            random.FillNormal(row, 1f);
            row.CopyTo(values, r * ld);
        }
        return values;
    }

    [Theory]
    [InlineData(false, true, 128, 768, 200, 1)] // few-rows order: nn.Linear layout [out, in]
    [InlineData(false, false, 128, 200, 771, 2)] // few-rows order, Conv1D layout [in, out], depth of three slices
    [InlineData(true, true, 37, 45, 33, 1)] // a narrow edge panel (45 = 32 + 13) and a short edge tile
    [InlineData(false, true, 300, 333, 900, 2)] // few-rows order, with more rows than its old limit (192)
    [InlineData(false, true, 1100, 333, 300, 2)] // general order: row parts over the shared packed block
    [InlineData(false, false, 700, 150, 300, 1)] // general order on one thread
    [InlineData(false, true, 13, 4099, 96, 2)] // wider than one nc block: blocks start mid-way through the panels
    [InlineData(false, true, 2, 50, 31, 1)] // two rows
    [InlineData(false, true, 1, 97, 64, 2)] // one row runs on the original B
    public void MatchesTheUnpackedProductBitForBit(bool transA, bool transB, int m, int n, int k, int threads)
    {
        int lda = (transA ? m : k) + 3, ldb = (transB ? k : n) + 5, ldc = n + 2;
        float[] a = Matrix(transA ? k : m, transA ? m : k, lda, 11), b = Matrix(transB ? n : k, transB ? k : n, ldb, 12);
        float[] c = Matrix(m, n, ldc, 13);
        int saved = WorkerPool.MaxThreads;
        try
        {
            WorkerPool.MaxThreads = threads;
            var packed = PackedGemmB.Pack(transB, k, n, b, ldb);
            Assert.True(packed.PackedBytes >= (long)n * k * sizeof(float));
            foreach (float beta in new[] { 0f, 0.5f })
            {
                float[] plain = (float[])c.Clone(), fromPacked = (float[])c.Clone();
                Gemm.Multiply(transA, transB, m, n, k, 1.25f, a, lda, b, ldb, beta, plain, ldc);
                Gemm.Multiply(transA, m, 1.25f, a, lda, packed, beta, fromPacked, ldc);
                Assert.Equal(plain, fromPacked); // the padding of C included: untouched by both
                var (expected, magnitude) = ReferenceGemm.Multiply(transA, transB, m, n, k, 1.25f, a, lda, b, ldb, beta, c, ldc);
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < n; j++)
                        Assert.True(Math.Abs(fromPacked[i * ldc + j] - expected[i * n + j]) <= 1e-5 * magnitude[i * n + j] + 1e-30,
                            $"C[{i},{j}] = {fromPacked[i * ldc + j]}, reference {expected[i * n + j]}");
            }
        }
        finally
        {
            WorkerPool.MaxThreads = saved;
        }
    }

    [Fact]
    public void PackedOnOneThreadServesProductsOnTwo()
    {
        const int m = 150, n = 260, k = 410;
        float[] a = Matrix(m, k, k, 21), b = Matrix(n, k, k, 22);
        int saved = WorkerPool.MaxThreads;
        try
        {
            WorkerPool.MaxThreads = 1;
            var packed = PackedGemmB.Pack(true, k, n, b, k);
            float[] one = new float[m * n], two = new float[m * n], plain = new float[m * n];
            Gemm.Multiply(false, m, 1f, a, k, packed, 0f, one, n);
            WorkerPool.MaxThreads = 2;
            Gemm.Multiply(false, m, 1f, a, k, packed, 0f, two, n);
            Gemm.Multiply(false, true, m, n, k, 1f, a, k, b, k, 0f, plain, n);
            Assert.Equal(plain, one);
            Assert.Equal(plain, two);
        }
        finally
        {
            WorkerPool.MaxThreads = saved;
        }
    }

    [Theory]
    [InlineData("Avx2")]
    [InlineData("Scalar")]
    public void EveryKernelPathAgreesWithItsOwnUnpackedProduct(string path)
    {
        const int m = 40, n = 70, k = 130;
        float[] a = Matrix(m, k, k, 31), b = Matrix(k, n, n, 32);
        var packedForBest = PackedGemmB.Pack(false, k, n, b, n);
        try
        {
            GemmKernelPaths.t_forced = Enum.Parse<GemmKernelPath>(path);
            var packed = PackedGemmB.Pack(false, k, n, b, n);
            // The scalar fallback packs nothing (its driver reads B in place).
            Assert.Equal(GemmKernelPaths.Current == GemmKernelPath.Scalar, packed.PackedBytes == 0);
            float[] plain = new float[m * n], fromPacked = new float[m * n], fromOtherPath = new float[m * n];
            Gemm.Multiply(false, false, m, n, k, 1f, a, k, b, n, 0f, plain, n);
            Gemm.Multiply(false, m, 1f, a, k, packed, 0f, fromPacked, n);
            // Packed for another path's panel width: the product falls back to the original B.
            Gemm.Multiply(false, m, 1f, a, k, packedForBest, 0f, fromOtherPath, n);
            Assert.Equal(plain, fromPacked);
            Assert.Equal(plain, fromOtherPath);
        }
        finally
        {
            GemmKernelPaths.t_forced = GemmKernelPath.Auto;
        }
    }

    [Fact]
    public void SteadyStateProductsAllocateNothing()
    {
        const int m = 128, n = 768, k = 200;
        float[] a = new float[m * k], b = new float[n * k], c = new float[m * n];
        new SeededRandom(41).FillNormal(a, 1);
        new SeededRandom(42).FillNormal(b, 1);
        var packed = PackedGemmB.Pack(true, k, n, b, k);
        Assert.Equal(0, SteadyStateAllocations.Measure(() => Gemm.Multiply(false, m, 1f, a, k, packed, 0f, c, n)));
    }

    [Fact]
    public void ShapesThatDoNotFitAreRejected()
    {
        float[] b = new float[10 * 7];
        Assert.Throws<ArgumentException>(() => PackedGemmB.Pack(false, 10, 8, b, 8)); // 10×8 needs 80
        var packed = PackedGemmB.Pack(false, 10, 7, b, 7);
        Assert.Throws<ArgumentException>(() => Gemm.Multiply(false, 3, 1f, new float[3 * 9], 9, packed, 0f, new float[21], 7)); // lda 9 < depth 10
        Assert.Throws<ArgumentException>(() => Gemm.Multiply(false, 3, 1f, new float[30], 10, packed, 0f, new float[20], 7)); // C of 3×7 needs 21
    }
}
