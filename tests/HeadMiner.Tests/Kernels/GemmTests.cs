using HeadMiner.Tensors;
using HeadMiner.Tensors.Kernels;
using HeadMiner.Tensors.Kernels.GemmParts;
using HeadMiner.Tests.Reference;

namespace HeadMiner.Tests.Kernels;

/// <summary>
/// Gemm against <see cref="ReferenceGemm"/>. Tolerance: |ours − reference| ≤ 1e-5 · (|alpha|·Σ_p|a_ip·b_pj| + |beta·c_ij|)
/// per element. A dropped, doubled or misplaced term moves an element by about Σ/k, far above that bound for k ≪ 1e5.
/// </summary>
[Collection(ThreadSettingCollection.Name)]
public class GemmTests
{
    private const double Tolerance = 1e-5;

    // A sentinel in the padding of strided matrices: Gemm must neither change it in C nor let it into a result.
    private const float Padding = 12345.5f;

    /// <summary>A product with stored operands padded to the given leading dimensions (0 = tight).</summary>
    private sealed class Case
    {
        public required bool TransA, TransB;
        public required int M, N, K;
        public float Alpha = 1, Beta;
        public int ExtraLda, ExtraLdb, ExtraLdc;
        public ulong Seed = 1;

        public int Lda => (TransA ? M : K) + ExtraLda;
        public int Ldb => (TransB ? K : N) + ExtraLdb;
        public int Ldc => N + ExtraLdc;

        public float[] MakeA() => Matrix(TransA ? K : M, TransA ? M : K, Lda, Seed * 3 + 1);
        public float[] MakeB() => Matrix(TransB ? N : K, TransB ? K : N, Ldb, Seed * 3 + 2);
        public float[] MakeC() => Matrix(M, N, Ldc, Seed * 3 + 3);
    }

    private static float[] Matrix(int rows, int width, int ld, ulong seed)
    {
        var values = new float[Math.Max(0, (rows - 1) * ld + width)];
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

    private static float[] Run(Case t, float[] a, float[] b, float[] c)
    {
        float[] result = (float[])c.Clone();
        Gemm.Multiply(t.TransA, t.TransB, t.M, t.N, t.K, t.Alpha, a, t.Lda, b, t.Ldb, t.Beta, result, t.Ldc);
        return result;
    }

    /// <summary>Runs the case and checks every element (and that C's padding is untouched).</summary>
    private static void Check(Case t)
    {
        float[] a = t.MakeA(), b = t.MakeB(), c = t.MakeC();
        float[] actual = Run(t, a, b, c);
        var (expected, magnitude) = ReferenceGemm.Multiply(t.TransA, t.TransB, t.M, t.N, t.K, t.Alpha, a, t.Lda, b, t.Ldb, t.Beta, c, t.Ldc);
        AssertMatches(actual, c, t.Ldc, t.M, t.N, expected, magnitude);
    }

    private static void AssertMatches(float[] actual, float[] original, int ldc, int m, int n, double[] expected, double[] magnitude)
    {
        for (int idx = 0; idx < actual.Length; idx++)
        {
            int i = idx / ldc, j = idx % ldc;
            if (j >= n)
            {
                Assert.True(actual[idx].Equals(original[idx]), $"padding of C at row {i}, column {j} changed to {actual[idx]}");
                continue;
            }
            double want = expected[i * n + j];
            float got = actual[idx];
            if (double.IsNaN(want))
                Assert.True(float.IsNaN(got), $"C[{i},{j}] = {got}, expected NaN");
            else if (double.IsInfinity(want))
                Assert.True(got == want, $"C[{i},{j}] = {got}, expected {want}");
            else
            {
                double error = Math.Abs(got - want);
                Assert.True(error <= Tolerance * magnitude[i * n + j],
                    $"C[{i},{j}] = {got}, expected {want} (error {error:g3}, allowed {Tolerance * magnitude[i * n + j]:g3}) for m={m} n={n}");
            }
        }
    }

    public static TheoryData<bool, bool, int, int, int> AxisSweeps()
    {
        var data = new TheoryData<bool, bool, int, int, int>();
        int[] sizes = [1, 7, 63, 65, 127, 768];
        foreach (bool transA in new[] { false, true })
            foreach (bool transB in new[] { false, true })
                foreach (int size in sizes)
                {
                    data.Add(transA, transB, size, 45, 37);
                    data.Add(transA, transB, 29, size, 37);
                    data.Add(transA, transB, 29, 45, size);
                }
        return data;
    }

    [Theory]
    [MemberData(nameof(AxisSweeps))]
    public void MatchesReferenceForEveryTransposeAndAwkwardSize(bool transA, bool transB, int m, int n, int k) =>
        Check(new Case { TransA = transA, TransB = transB, M = m, N = n, K = k });

    [Theory]
    [InlineData(false, 3072)]
    [InlineData(true, 3072)]
    [InlineData(false, 50257)]
    [InlineData(true, 50257)]
    public void MatchesReferenceForVeryWideOutputs(bool transB, int n) =>
        Check(new Case { TransA = false, TransB = transB, M = 3, N = n, K = 65 });

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void MatchesReferenceForLargeBlockedProducts(bool transA, bool transB) =>
        // Several kc slices, mc blocks and a partial tile on both edges, on every thread count available.
        Check(new Case { TransA = transA, TransB = transB, M = 301, N = 283, K = 530, Seed = 7 });

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, true)]
    [InlineData(false, true)]
    public void StridedSubmatricesReadOnlyTheirElementsAndKeepCPadding(bool transA, bool transB) =>
        Check(new Case { TransA = transA, TransB = transB, M = 37, N = 70, K = 41, ExtraLda = 5, ExtraLdb = 19, ExtraLdc = 33 });

    [Theory]
    [InlineData(1f, 0f)]
    [InlineData(2.5f, 0f)]
    [InlineData(1f, 1f)]
    [InlineData(-0.5f, 0.75f)]
    [InlineData(0f, 2f)]
    [InlineData(0f, 0f)]
    public void AlphaAndBetaFollowBlas(float alpha, float beta) =>
        Check(new Case { TransA = false, TransB = true, M = 50, N = 70, K = 300, Alpha = alpha, Beta = beta, Seed = 3 });

    [Theory]
    [InlineData(13, 77, 29, 0f)]
    [InlineData(13, 77, 0, 0f)]
    [InlineData(13, 77, 0, 0.5f)]
    public void BetaZeroIgnoresNanInC(int m, int n, int k, float beta)
    {
        var t = new Case { TransA = false, TransB = false, M = m, N = n, K = k, Beta = beta };
        float[] a = t.MakeA(), b = t.MakeB(), c = new float[m * n];
        var random = new SeededRandom(5);
        random.FillNormal(c, 1);
        if (beta == 0) Array.Fill(c, float.NaN);
        float[] actual = Run(t, a, b, c);
        var (expected, magnitude) = ReferenceGemm.Multiply(false, false, m, n, k, 1, a, t.Lda, b, t.Ldb, beta, c, t.Ldc);
        AssertMatches(actual, c, t.Ldc, m, n, expected, magnitude);
        if (beta == 0) Assert.All(actual, x => Assert.True(float.IsFinite(x)));
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, true)]
    public void InfinityAndNanPropagateToTheRowsAndColumnsTheyTouch(bool transA, bool transB)
    {
        var t = new Case { TransA = transA, TransB = transB, M = 40, N = 70, K = 50 };
        float[] a = t.MakeA(), b = t.MakeB(), c = t.MakeC();
        int infRow = 17, nanColumn = 33;
        a[transA ? 9 * t.Lda + infRow : infRow * t.Lda + 9] = float.PositiveInfinity;
        b[transB ? nanColumn * t.Ldb + 20 : 20 * t.Ldb + nanColumn] = float.NaN;
        float[] actual = Run(t, a, b, c);
        var (expected, magnitude) = ReferenceGemm.Multiply(transA, transB, t.M, t.N, t.K, t.Alpha, a, t.Lda, b, t.Ldb, t.Beta, c, t.Ldc);
        AssertMatches(actual, c, t.Ldc, t.M, t.N, expected, magnitude);
        for (int i = 0; i < t.M; i++)
            for (int j = 0; j < t.N; j++)
            {
                float x = actual[i * t.Ldc + j];
                if (j == nanColumn) Assert.True(float.IsNaN(x), $"C[{i},{j}] = {x}, expected NaN");
                else if (i == infRow) Assert.True(float.IsInfinity(x), $"C[{i},{j}] = {x}, expected ±Inf");
                else Assert.True(float.IsFinite(x), $"C[{i},{j}] = {x}, expected finite");
            }
    }

    [Fact]
    public void EmptyDimensionsAreLegal()
    {
        float[] c = [1, 2, 3, 4, 5, 6];
        Gemm.Multiply(false, false, 0, 3, 4, 1, [], 4, new float[12], 3, 0, c, 3);
        Gemm.Multiply(false, false, 2, 0, 4, 1, new float[8], 4, [], 0, 0, c, 3);
        Assert.Equal([1, 2, 3, 4, 5, 6], c);
        Gemm.Multiply(false, false, 2, 3, 0, 1, [], 0, [], 3, 2, c, 3);
        Assert.Equal([2, 4, 6, 8, 10, 12], c);
        Gemm.MultiplyBatched(false, false, 2, 3, 4, 1, new float[8], 4, 0, new float[12], 3, 0, 0, c, 3, 6, 0);
        Assert.Equal([2, 4, 6, 8, 10, 12], c);
    }

    [Fact]
    public void ShortSpansAndNarrowLeadingDimensionsAreRejected()
    {
        float[] a = new float[6 * 4], b = new float[4 * 5], c = new float[6 * 5];
        var e = Assert.Throws<ArgumentException>(() => Gemm.Multiply(false, false, 6, 5, 4, 1, a.AsSpan(1), 4, b, 5, 0, c, 5));
        Assert.Contains("a has 23 elements", e.Message);
        Assert.Throws<ArgumentException>(() => Gemm.Multiply(false, false, 6, 5, 4, 1, a, 4, b.AsSpan(0, 19), 5, 0, c, 5));
        Assert.Throws<ArgumentException>(() => Gemm.Multiply(false, false, 6, 5, 4, 1, a, 4, b, 5, 0, c.AsSpan(0, 29), 5));
        e = Assert.Throws<ArgumentException>(() => Gemm.Multiply(false, false, 6, 5, 4, 1, a, 3, b, 5, 0, c, 5));
        Assert.Equal("lda", e.ParamName);
        Assert.Throws<ArgumentException>(() => Gemm.Multiply(true, false, 6, 5, 4, 1, a, 4, b, 5, 0, c, 5)); // stored 4×6 needs lda ≥ 6
        Assert.ThrowsAny<ArgumentException>(() => Gemm.Multiply(false, false, -1, 5, 4, 1, a, 4, b, 5, 0, c, 5));
        Assert.Throws<ArgumentException>(() =>
            Gemm.MultiplyBatched(false, false, 6, 5, 4, 1, a, 4, 24, b, 5, 0, 0, c, 5, 30, 2)); // two A's need 48
        Assert.Throws<ArgumentException>(() =>
            Gemm.MultiplyBatched(false, false, 6, 5, 4, 1, a, 4, -1, b, 5, 0, 0, c, 5, 0, 1));
    }

    [Theory]
    [InlineData(12, 128, 128, 64, 1L, 1L)] // attention scores: 12 heads of Q·Kᵀ
    [InlineData(5, 33, 70, 19, 1L, 0L)] // B broadcast to every item
    [InlineData(4, 33, 70, 19, 0L, 1L)] // A broadcast
    [InlineData(3, 150, 300, 120, 1L, 1L)] // few large items: each runs in parallel itself
    public void BatchedMatchesOneProductPerItem(int batch, int m, int n, int k, long useStrideA, long useStrideB)
    {
        var t = new Case { TransA = false, TransB = true, M = m, N = n, K = k, Alpha = 0.125f, Beta = 0.5f };
        long strideA = useStrideA * (m * k + 3), strideB = useStrideB * (n * k + 5), strideC = m * n + 7;
        var random = new SeededRandom(11);
        float[] a = new float[(batch - 1) * strideA + m * k], b = new float[(batch - 1) * strideB + n * k];
        float[] c = new float[(batch - 1) * strideC + m * n];
        random.FillNormal(a, 1);
        random.FillNormal(b, 1);
        random.FillNormal(c, 1);
        float[] actual = (float[])c.Clone();
        Gemm.MultiplyBatched(false, true, m, n, k, t.Alpha, a, k, strideA, b, k, strideB, t.Beta, actual, n, strideC, batch);
        for (int item = 0; item < batch; item++)
        {
            var ai = a.AsSpan((int)(item * strideA), m * k);
            var bi = b.AsSpan((int)(item * strideB), n * k);
            var ci = c.AsSpan((int)(item * strideC), m * n);
            var (expected, magnitude) = ReferenceGemm.Multiply(false, true, m, n, k, t.Alpha, ai, k, bi, k, t.Beta, ci, n);
            AssertMatches(actual.AsSpan((int)(item * strideC), m * n).ToArray(), ci.ToArray(), n, m, n, expected, magnitude);
        }
        for (int item = 0; item < batch - 1; item++) // the gaps between C matrices are untouched
            for (long gap = item * strideC + m * n; gap < (item + 1) * strideC; gap++)
                Assert.Equal(c[gap], actual[gap]);
    }

    [Theory]
    [InlineData(false, true, 256, 300, 130)] // few-rows order: column strips over A packed once
    [InlineData(true, false, 400, 90, 260)] // few-rows order, narrow
    [InlineData(false, false, 200, 600, 900)] // general (mc×kc-blocked) order on 1 thread, few-rows order on 2
    [InlineData(false, true, 700, 150, 300)] // likewise, with 59 tiles per strip
    [InlineData(false, true, 1100, 150, 300)] // general order on 2 threads too (more rows than the few-rows order takes): row blocks share each packed B block
    [InlineData(true, true, 40, 300, 5000)] // few rows, deep: general order on 1 thread, few-rows order (A 48 × 5000) on 2
    [InlineData(false, true, 130, 200, 2100)] // 128 tokens at a 1B model's depth: likewise, B rows prefetched on 2 threads
    [InlineData(true, true, 12, 70, 180_000)] // general order with one row block (A too deep for few rows): split by column groups
    public void OneAndTwoThreadsGiveIdenticalResults(bool transA, bool transB, int m, int n, int k)
    {
        var t = new Case { TransA = transA, TransB = transB, M = m, N = n, K = k, Beta = 0.5f };
        float[] a = t.MakeA(), b = t.MakeB(), c = t.MakeC();
        int saved = WorkerPool.MaxThreads;
        float[] one, two;
        try
        {
            WorkerPool.MaxThreads = 1;
            one = Run(t, a, b, c);
            WorkerPool.MaxThreads = 2;
            two = Run(t, a, b, c);
        }
        finally
        {
            WorkerPool.MaxThreads = saved;
        }
        var (expected, magnitude) = ReferenceGemm.Multiply(transA, transB, m, n, k, t.Alpha, a, t.Lda, b, t.Ldb, t.Beta, c, t.Ldc);
        AssertMatches(two, c, t.Ldc, m, n, expected, magnitude);
        // Every element is summed in the same order whatever the split, so the results agree bit for bit.
        Assert.Equal(one, two);
    }

    [Theory]
    [InlineData(3, false, true, 128, 1000, 130)] // 16 strips of 2 panels in 3 runs
    [InlineData(5, true, false, 100, 1500, 200)] // 24 strips in 5 runs of 4 and 5
    [InlineData(8, false, false, 120, 40, 7200)] // 2 strips (one of them an edge) for 8 threads: 2 runs
    [InlineData(3, false, true, 128, 1000, 2100)] // deep: 3 depth slices per strip, next strip fetched across slices
    public void FewRowsStripsTakenFromAnyThreadsRunGiveIdenticalResults(int threads, bool transA, bool transB, int m, int n, int k)
    {
        // More threads than this machine's cores: some runs start late or never, and the other threads take their
        // strips from the right end. Whoever computes a strip, it is the same tiles in the same depth order. Every
        // case is big enough to be split over all the threads, and small enough in rows for the few-rows order.
        Assert.True(GemmBlockedDriver<MicroKernel12x32Avx512>.UsesFewRowsOrder(m, k, split: true));
        Assert.True((long)m * n * k >= threads * Gemm.MinMultiplyAddsPerThread);
        var t = new Case { TransA = transA, TransB = transB, M = m, N = n, K = k, Beta = 0.25f, Seed = 5 };
        float[] a = t.MakeA(), b = t.MakeB(), c = t.MakeC();
        int saved = WorkerPool.MaxThreads;
        float[] one;
        try
        {
            WorkerPool.MaxThreads = 1;
            one = Run(t, a, b, c);
            WorkerPool.MaxThreads = threads;
            for (int repeat = 0; repeat < 4; repeat++) Assert.Equal(one, Run(t, a, b, c));
        }
        finally
        {
            WorkerPool.MaxThreads = saved;
        }
        var (expected, magnitude) = ReferenceGemm.Multiply(transA, transB, m, n, k, t.Alpha, a, t.Lda, b, t.Ldb, t.Beta, c, t.Ldc);
        AssertMatches(one, c, t.Ldc, m, n, expected, magnitude);
    }

    [Fact]
    public void ConcurrentCallersGetTheSameResultsAsOneCaller()
    {
        // A caller that finds the workers busy runs inline; every caller thread packs into its own buffers.
        Case[] cases =
        [
            new() { TransA = false, TransB = true, M = 128, N = 400, K = 300 }, // few-rows order
            new() { TransA = true, TransB = false, M = 1100, N = 120, K = 300, Seed = 2 }, // general order
        ];
        var inputs = cases.Select(t => (t.MakeA(), t.MakeB(), t.MakeC())).ToArray();
        var expected = cases.Select((t, i) => Run(t, inputs[i].Item1, inputs[i].Item2, inputs[i].Item3)).ToArray();
        int saved = WorkerPool.MaxThreads;
        try
        {
            WorkerPool.MaxThreads = 2;
            Parallel.For(0, 8, new ParallelOptions { MaxDegreeOfParallelism = 4 }, caller =>
            {
                int i = caller % cases.Length;
                for (int repeat = 0; repeat < 3; repeat++)
                    Assert.Equal(expected[i], Run(cases[i], inputs[i].Item1, inputs[i].Item2, inputs[i].Item3));
            });
        }
        finally
        {
            WorkerPool.MaxThreads = saved;
        }
    }

    [Fact]
    public void RepeatedCallsAreBitwiseIdentical()
    {
        var t = new Case { TransA = false, TransB = true, M = 128, N = 768, K = 200 };
        float[] a = t.MakeA(), b = t.MakeB(), c = t.MakeC();
        float[] first = Run(t, a, b, c);
        for (int repeat = 0; repeat < 3; repeat++) Assert.Equal(first, Run(t, a, b, c));
    }

    [Theory]
    [InlineData(3)]
    [InlineData(0)]
    public void BatchedWithSharedCAccumulatesLikeALoopOfCalls(int k)
    {
        const int batch = 4, m = 20, n = 37;
        var random = new SeededRandom(21);
        float[] a = new float[batch * m * Math.Max(k, 1)], b = new float[batch * Math.Max(k, 1) * n], c = new float[m * n];
        random.FillNormal(a, 1);
        random.FillNormal(b, 1);
        random.FillNormal(c, 1);
        float[] looped = (float[])c.Clone(), batched = (float[])c.Clone();
        for (int t = 0; t < batch; t++)
            Gemm.Multiply(false, false, m, n, k, 1.5f, a.AsSpan(t * m * k), k, b.AsSpan(t * k * n), n, 0.5f, looped, n);
        Gemm.MultiplyBatched(false, false, m, n, k, 1.5f, a, k, m * k, b, n, k * n, 0.5f, batched, n, 0, batch);
        Assert.Equal(looped, batched);
        if (k == 0) Assert.Equal(c[5] * 0.0625f, batched[5]); // beta applied once per item
    }

    [Theory]
    [InlineData(1, 128, 768, 200)] // few-rows order
    [InlineData(2, 128, 768, 200)]
    [InlineData(2, 1100, 120, 300)] // general order
    public void SteadyStateCallsAllocateNothing(int threads, int m, int n, int k)
    {
        float[] a = new float[m * k], b = new float[k * n], c = new float[m * n];
        new SeededRandom(9).FillNormal(a, 1);
        int saved = WorkerPool.MaxThreads;
        try
        {
            WorkerPool.MaxThreads = threads;
            Assert.Equal(0, SteadyStateAllocations.Measure(() => Gemm.Multiply(false, false, m, n, k, 1, a, k, b, n, 0, c, n)));
        }
        finally
        {
            WorkerPool.MaxThreads = saved;
        }
    }

    [Theory]
    [InlineData("Avx2")]
    [InlineData("Scalar")]
    public void FallbackKernelsMatchReference(string path)
    {
        try
        {
            GemmKernelPaths.t_forced = Enum.Parse<GemmKernelPath>(path);
            Check(new Case { TransA = false, TransB = false, M = 67, N = 41, K = 300, Beta = 0.5f });
            Check(new Case { TransA = true, TransB = true, M = 13, N = 100, K = 70, ExtraLda = 3, ExtraLdb = 2, ExtraLdc = 1 });
            Check(new Case { TransA = false, TransB = true, M = 128, N = 130, K = 257, Alpha = 2 });
            Check(new Case { TransA = true, TransB = false, M = 1100, N = 45, K = 300, Beta = -1 }); // general order
        }
        finally
        {
            GemmKernelPaths.t_forced = GemmKernelPath.Auto;
        }
    }
}
