using HeadMiner.Models.Formats;
using HeadMiner.Tensors;
using HeadMiner.Tensors.Kernels;

namespace HeadMiner.Tests.Kernels;

/// <summary>
/// bf16 arithmetic (<see cref="GemmBf16"/>): the native VDPBF16PS kernels and the managed emulation, each against a
/// double-precision sum of the same bf16-rounded products, and against the unrounded float32 product within bf16's
/// rounding bound. Tolerances are derived, not tuned:
/// <list type="bullet">
/// <item>A product of two bf16 values (8-bit significands) has at most 16 significant bits, so it is exact in float32:
/// the native kernel and the emulation add the same exact terms, in different orders. A float32 sum of k terms is within
/// γ = k·2⁻²⁴/(1 − k·2⁻²⁴) of Σ|terms| of the exact sum (Higham, recursive and pairwise alike), plus one rounding for
/// alpha·sum + beta·C, so |C − exact| ≤ (k + 2)·2⁻²⁴·(|alpha|·Σ|a'b'| + |beta·C|) (with a factor 1.01 for γ's denominator).</item>
/// <item>Against the unrounded operands: a' = a(1 + δ), |δ| ≤ 2⁻⁸ (bf16's unit roundoff, round to nearest), so each
/// term's error is ≤ (2·2⁻⁸ + 2⁻¹⁶)·|ab|; summed: ≤ (2⁻⁷ + 2⁻¹⁶)·Σ|ab|, plus the float32 sum's bound above.</item>
/// </list>
/// Shapes are odd and cut every tile edge (12 rows, 32 columns, 384-deep blocks, 1024-column blocks, odd depth), leading
/// dimensions are padded with NaN so a read of the padding would show, and every B format and transpose is covered.
/// </summary>
[Collection(ThreadSettingCollection.Name)]
public class GemmBf16Tests
{
    private const double Unit32 = 1.0 / (1 << 24); // float32 unit roundoff
    private const double UnitBf16 = 1.0 / (1 << 8); // bfloat16 unit roundoff

    public enum BKind { F32, Bf16, F16 }

    public static TheoryData<BKind, bool, int, int, int> Shapes()
    {
        var data = new TheoryData<BKind, bool, int, int, int>();
        (int M, int N, int K)[] shapes =
        [
            (1, 1, 1), (1, 45, 37), (1, 130, 769), (2, 3, 5), (7, 33, 17), (13, 65, 31), (12, 32, 16), (25, 97, 400),
            (3, 130, 769), (29, 1031, 385),
            // 128-token forward shapes: 11 row tiles (the last 10 rows), A packed once for several column ranges, each
            // range's 32-column strips over four depth blocks (odd depth) while the next strip is prefetched.
            (130, 97, 1155),
        ];
        foreach (var kind in new[] { BKind.F32, BKind.Bf16, BKind.F16 })
            foreach (bool transB in new[] { false, true })
                foreach (var (m, n, k) in shapes)
                    data.Add(kind, transB, m, n, k);
        return data;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void NativeAndManagedSumTheRoundedProductsWithinTheFloat32Bound(BKind kind, bool transB, int m, int n, int k)
    {
        foreach (bool managed in new[] { false, true })
        {
            GemmBf16.t_forceManaged = managed;
            try
            {
                Check(kind, transB, m, n, k, alpha: 1f, beta: 0f, extraLd: 3, seed: (ulong)(m * 7 + n * 3 + k));
                Check(kind, transB, m, n, k, alpha: -0.75f, beta: 0.5f, extraLd: 0, seed: (ulong)(m + n + k));
            }
            finally
            {
                GemmBf16.t_forceManaged = false;
            }
        }
    }

    [Theory]
    [InlineData(1, 45, 37)]
    [InlineData(1, 13, 2049)]
    [InlineData(2, 25, 16)]
    [InlineData(33, 1, 1)]
    [InlineData(127, 45, 37)]
    [InlineData(128, 12, 32)]
    [InlineData(129, 33, 2049)]
    [InlineData(130, 97, 1155)]
    [InlineData(300, 50, 2500)]
    public void TheWeightRowsKernelSumsTheRoundedProductsWithinTheFloat32Bound(int m, int n, int k)
    {
        // nn.Linear's BF16 weights [n, k] read in place as the broadcast operand, X packed in 32-token panels: cuts every
        // edge of it (one row, 127/129/130 rows and 300 = two 256-token blocks, weight rows not a multiple of 12, odd
        // depth, several depth blocks at 129 × 2049 and 300 × 2500). One row goes to the GEMV through Multiply, so
        // the kernel is also called directly; the packed-weights kernel runs the same shapes as a second native path.
        foreach (bool direct in new[] { false, true })
            foreach (bool packWeights in new[] { false, true })
            {
                if ((direct && (packWeights || !NativeBf16.Available)) || (packWeights && m == 1)) continue;
                GemmBf16.t_packWeights = packWeights;
                try
                {
                    Check(BKind.Bf16, true, m, n, k, alpha: 1f, beta: 0f, extraLd: 3, seed: (ulong)(m * 5 + n + k), direct);
                    Check(BKind.Bf16, true, m, n, k, alpha: -0.75f, beta: 0.5f, extraLd: 1, seed: (ulong)(m + n * 3 + k), direct);
                }
                finally
                {
                    GemmBf16.t_packWeights = false;
                }
            }
    }

    [Fact]
    public void ANaNReachesOnlyItsOwnRowOrColumn()
    {
        // A NaN activation spoils its token's row of C, a NaN weight its output column, nothing else: the repeated
        // weight rows of a short tile and the zero-padded tokens of a short panel are computed but never stored, and
        // an odd depth's last weight is read alone (not with the next row's first element).
        const int m = 37, n = 29, k = 41;
        var random = new SeededRandom(29);
        var a = new float[m * k];
        random.FillNormal(a, 1f);
        var values = new float[n * k];
        random.FillNormal(values, 1f);
        var bits = new ushort[values.Length];
        HalfPrecision.FloatToBf16(values, bits);
        a[5 * k + 7] = float.NaN;
        bits[11 * k + k - 1] = 0x7FC1; // the last weight of row 11, alone in the odd depth's last pair
        bits[27 * k] = 0x7F80; // +inf at the start of row 27 (in the last, short tile); meets finite activations only
        var c = new float[m * n];
        GemmBf16.Multiply(true, m, n, k, 1f, a, k, bits, HalfFormat.BFloat16, k, 0f, c, n);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                float v = c[i * n + j];
                if (i == 5 || j == 11 || j == 27) Assert.False(float.IsFinite(v), $"C[{i},{j}] = {v}");
                else Assert.True(float.IsFinite(v), $"C[{i},{j}] = {v}");
            }
    }

    [Theory]
    [InlineData(false, 130, 300, 1155)]
    [InlineData(true, 130, 300, 1155)]
    [InlineData(true, 37, 1031, 770)]
    [InlineData(true, 300, 130, 2500)]
    [InlineData(true, 129, 1031, 2049)]
    public void OneAndTwoThreadsGiveIdenticalResults(bool transB, int m, int n, int k)
    {
        // Each column range packs its own B strips from A packed once (by several threads when there are two), and
        // every element is summed by the same tile in the same order: the split must not change a bit.
        var random = new SeededRandom((ulong)(m + n + k));
        var a = new float[m * k];
        random.FillNormal(a, 1f);
        var values = new float[n * k];
        random.FillNormal(values, 0.5f);
        var bits = new ushort[values.Length];
        HalfPrecision.FloatToBf16(values, bits);
        var c = new float[m * n];
        random.FillNormal(c, 1f);
        int saved = WorkerPool.MaxThreads;
        try
        {
            var results = new List<float[]>();
            foreach (int threads in new[] { 1, 2 })
            {
                WorkerPool.MaxThreads = threads;
                var y = (float[])c.Clone();
                GemmBf16.Multiply(transB, m, n, k, 0.75f, a, k, bits, HalfFormat.BFloat16, transB ? k : n, 0.5f, y, n);
                results.Add(y);
            }
            Assert.Equal(results[0], results[1]);
            Assert.DoesNotContain(results[1], float.IsNaN);
        }
        finally
        {
            WorkerPool.MaxThreads = saved;
        }
    }

    [Fact]
    public void TheNativeKernelsAreBuiltAndLoadedWhereTheCpuHasAvx512Bf16()
    {
        // The library's build compiles them with gcc; on a machine with the CPU feature and the compiler, a missing
        // library is a build failure, not a fallback to accept silently.
        if (NativeBf16.CpuHasAvx512Bf16 && File.Exists("/usr/bin/gcc") && Environment.GetEnvironmentVariable("HEADMINER_NATIVE_BF16") != "0")
            Assert.True(NativeBf16.Available, NativeBf16.Unavailable);
        else
            Assert.False(NativeBf16.Available && !NativeBf16.CpuHasAvx512Bf16);
        Assert.Equal(NativeBf16.Available, GemmBf16.Implementation.StartsWith("native", StringComparison.Ordinal));
    }

    [Fact]
    public void RoundingToBf16IsRoundToNearestEven()
    {
        Assert.Equal(1f, GemmBf16.RoundToBf16(1f + MathF.Pow(2, -8))); // a tie: down to the even significand
        Assert.Equal(1f + MathF.Pow(2, -6), GemmBf16.RoundToBf16(1f + 3 * MathF.Pow(2, -8))); // a tie: up to even
        Assert.Equal(1f + MathF.Pow(2, -7), GemmBf16.RoundToBf16(1f + MathF.Pow(2, -8) + MathF.Pow(2, -20))); // above the tie
        Assert.Equal(-2f, GemmBf16.RoundToBf16(-1.999f));
        Assert.Equal(float.PositiveInfinity, GemmBf16.RoundToBf16(float.PositiveInfinity));
        Assert.Equal(float.PositiveInfinity, GemmBf16.RoundToBf16(float.MaxValue)); // beyond bf16's largest finite value
        Assert.True(float.IsNaN(GemmBf16.RoundToBf16(BitConverter.Int32BitsToSingle(0x7f800001)))); // a NaN that truncation would make infinite
        Assert.Equal(HalfPrecision.FloatToBf16(0.1f), GemmBf16.ToBf16Bits(0.1f));
    }

    [Fact]
    public unsafe void NativeRoundingMatchesTheManagedRuleBitForBitExceptSubnormalsFlushToZero()
    {
        if (!NativeBf16.Available) return; // the managed rule is the only one; RoundingToBf16IsRoundToNearestEven covers it
        var random = new SeededRandom(17);
        var values = new float[100_003];
        for (int i = 0; i < values.Length; i++) values[i] = BitConverter.Int32BitsToSingle((int)random.NextUInt64());
        float[] specials = [0f, -0f, float.Epsilon, -float.Epsilon, 1f + MathF.Pow(2, -8), float.MaxValue, float.NaN, float.NegativeInfinity];
        specials.CopyTo(values, 0);
        var native = new ushort[values.Length];
        fixed (float* src = values)
        fixed (ushort* dst = native)
            NativeBf16.hm_round_bf16(src, dst, values.Length);
        for (int i = 0; i < values.Length; i++)
        {
            uint u = BitConverter.SingleToUInt32Bits(values[i]);
            // VCVTNE2PS2BF16 treats a float32 subnormal input as zero (as VDPBF16PS does): signed zero, by design.
            ushort expected = (u & 0x7f800000u) == 0 ? (ushort)(u >> 16 & 0x8000) : GemmBf16.ToBf16Bits(values[i]);
            if (float.IsNaN(values[i])) Assert.True(float.IsNaN(BitConverter.Int32BitsToSingle(native[i] << 16)), $"value {i}");
            else Assert.True(expected == native[i], $"value {i} ({values[i]:R}): native 0x{native[i]:x4}, managed 0x{expected:x4}");
        }
    }

    [Theory]
    [InlineData(false, 1, 1)]
    [InlineData(true, 1, 1)]
    [InlineData(false, 131, 77)]
    [InlineData(true, 131, 77)]
    [InlineData(false, 1000, 2049)]
    [InlineData(true, 1000, 2049)]
    public void TheWideningRowKernelIsTheFloat32ProductWithinTheSummationBound(bool transB, int n, int k)
    {
        var random = new SeededRandom((ulong)(n + k));
        var x = new float[k];
        random.FillNormal(x, 1f);
        int ldw = (transB ? k : n) + 5, rows = transB ? n : k, width = transB ? k : n;
        var bits = new ushort[(rows - 1) * ldw + width];
        Array.Fill(bits, (ushort)0x7FC1);
        var row = new float[width];
        for (int r = 0; r < rows; r++)
        {
            random.FillNormal(row, 1f);
            for (int j = 0; j < width; j++) bits[r * ldw + j] = HalfPrecision.FloatToBf16(row[j]);
        }
        var y = new float[n];
        random.FillNormal(y, 1f);
        var before = (float[])y.Clone();
        if (!GemmBf16.TryMultiplyRowWidening(transB, n, k, x, bits, ldw, 0.5f, y))
        {
            Assert.False(NativeBf16.Available);
            return;
        }
        for (int j = 0; j < n; j++)
        {
            double exact = 0.5 * before[j], magnitude = Math.Abs(0.5 * before[j]);
            for (int i = 0; i < k; i++)
            {
                double w = HalfPrecision.Bf16ToFloat(bits[transB ? j * ldw + i : i * ldw + j]);
                exact += x[i] * w;
                magnitude += Math.Abs(x[i] * w);
            }
            // The float32 products x·w are rounded too (x is not bf16), so each term adds one more unit roundoff.
            double bound = 1.01 * (k + 3) * Unit32 * magnitude;
            Assert.True(Math.Abs(y[j] - exact) <= bound, $"y[{j}] = {y[j]}, exact {exact}, bound {bound}");
        }
    }

    [Fact]
    public void ShortSpansAreRejected()
    {
        var a = new float[6];
        var c = new float[4];
        Assert.Throws<ArgumentException>(() => GemmBf16.Multiply(true, 2, 2, 3, 1f, a, 3, new ushort[5], HalfFormat.BFloat16, 3, 0f, c, 2));
        Assert.Throws<ArgumentException>(() => GemmBf16.Multiply(false, 2, 2, 3, 1f, a, 3, new float[6], 1, 0f, c, 2));
        Assert.Throws<ArgumentException>(() => GemmBf16.Multiply(false, 2, 2, 3, 1f, a, 2, new float[6], 2, 0f, c, 2));
    }

    private static void Check(BKind kind, bool transB, int m, int n, int k, float alpha, float beta, int extraLd, ulong seed,
        bool directWeightRows = false)
    {
        int lda = k + extraLd, ldb = (transB ? k : n) + extraLd, ldc = n + extraLd;
        int bRows = transB ? n : k, bWidth = transB ? k : n;
        var random = new SeededRandom(seed);
        var a = new float[(m - 1) * lda + k];
        Array.Fill(a, float.NaN);
        var rowA = new float[k];
        for (int i = 0; i < m; i++)
        {
            random.FillNormal(rowA, 1f);
            rowA.CopyTo(a, i * lda);
        }
        var c = new float[(m - 1) * ldc + n];
        random.FillNormal(c, 1f);
        // B as stored (bits or floats, NaN in the padding) and its float32 value.
        int length = (bRows - 1) * ldb + bWidth;
        var bFloat = new float[length];
        var bBits = new ushort[length];
        var bValue = new float[length];
        Array.Fill(bFloat, float.NaN);
        Array.Fill(bBits, (ushort)0x7FC1);
        var row = new float[bWidth];
        for (int r = 0; r < bRows; r++)
        {
            random.FillNormal(row, 1f);
            for (int j = 0; j < bWidth; j++)
            {
                int at = r * ldb + j;
                switch (kind)
                {
                    case BKind.F32: bFloat[at] = bValue[at] = row[j]; break;
                    case BKind.Bf16: bBits[at] = HalfPrecision.FloatToBf16(row[j]); bValue[at] = HalfPrecision.Bf16ToFloat(bBits[at]); break;
                    default: bBits[at] = HalfPrecision.FloatToF16(row[j]); bValue[at] = HalfPrecision.F16ToFloat(bBits[at]); break;
                }
            }
        }

        var actual = (float[])c.Clone();
        if (directWeightRows) MultiplyWeightRows(m, n, k, alpha, a, lda, bBits, ldb, beta, actual, ldc);
        else if (kind == BKind.F32) GemmBf16.Multiply(transB, m, n, k, alpha, a, lda, bFloat, ldb, beta, actual, ldc);
        else GemmBf16.Multiply(transB, m, n, k, alpha, a, lda, bBits, kind == BKind.Bf16 ? HalfFormat.BFloat16 : HalfFormat.Float16, ldb, beta, actual, ldc);

        bool differsFromFloat32 = false;
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double rounded = 0, roundedMagnitude = 0, unrounded = 0, unroundedMagnitude = 0;
                for (int p = 0; p < k; p++)
                {
                    float av = a[i * lda + p], bv = bValue[transB ? j * ldb + p : p * ldb + j];
                    double t = (double)GemmBf16.RoundToBf16(av) * GemmBf16.RoundToBf16(bv);
                    rounded += t;
                    roundedMagnitude += Math.Abs(t);
                    unrounded += (double)av * bv;
                    unroundedMagnitude += Math.Abs((double)av * bv);
                }
                double cBefore = c[i * ldc + j];
                double got = actual[i * ldc + j];
                double expected = alpha * rounded + beta * cBefore;
                double sumBound = 1.01 * (k + 2) * Unit32 * (Math.Abs(alpha) * roundedMagnitude + Math.Abs(beta * cBefore));
                Assert.True(Math.Abs(got - expected) <= sumBound,
                    $"C[{i},{j}] = {got}, bf16-rounded products sum to {expected} (bound {sumBound}; {kind}, transB={transB}, m={m} n={n} k={k}, managed={GemmBf16.t_forceManaged}, packWeights={GemmBf16.t_packWeights}, direct={directWeightRows})");
                double float32Value = alpha * unrounded + beta * cBefore;
                double roundingBound = (2 * UnitBf16 + UnitBf16 * UnitBf16) * Math.Abs(alpha) * unroundedMagnitude
                    + 1.01 * (k + 2) * Unit32 * (Math.Abs(alpha) * unroundedMagnitude * (1 + 2 * UnitBf16) + Math.Abs(beta * cBefore));
                Assert.True(Math.Abs(got - float32Value) <= roundingBound,
                    $"C[{i},{j}] = {got}, float32 product {float32Value} (bf16 bound {roundingBound}; {kind}, m={m} n={n} k={k})");
                // Beyond what float32 summation alone could explain: the operands were rounded.
                if (Math.Abs(got - float32Value) > 1.01 * (k + 2) * Unit32 * (Math.Abs(alpha) * unroundedMagnitude + Math.Abs(beta * cBefore))) differsFromFloat32 = true;
            }
        // bf16 arithmetic must actually round (random normal floats are almost never bf16 values).
        Assert.True(differsFromFloat32, "the bf16 product is within float32's bound of the float32 product: nothing was rounded");
    }

    /// <summary>The weight-rows kernel called directly (also for one row, which Multiply sends to the GEMV), on one thread.</summary>
    private static unsafe void MultiplyWeightRows(int m, int n, int k, float alpha, float[] a, int lda, ushort[] w, int ldw,
        float beta, float[] c, int ldc)
    {
        var packed = new uint[NativeBf16.hm_packed_x_bf16_size(m, k) + 16];
        fixed (float* pa = a, pc = c)
        fixed (ushort* pw = w)
        fixed (uint* pp = packed)
        {
            uint* aligned = (uint*)(((nuint)pp + 63) & ~(nuint)63); // the kernel reads the panels with aligned loads
            NativeBf16.hm_pack_x_bf16(m, 0, (m + 31) / 32, k, pa, lda, aligned);
            NativeBf16.hm_gemm_bf16w_nt(m, 0, n, k, alpha, aligned, pw, ldw, beta, pc, ldc);
        }
    }
}
