using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace HeadMiner.Tensors.Kernels.GemmParts;

/// <summary>
/// Copies a block of op(A) or op(B) into the micro-kernel's panel layout: panels of <c>width</c> consecutive
/// "outer" indices (rows of op(A), columns of op(B)), each stored k-major: element (outer o, depth p) of panel q goes
/// to <c>dest[q·width·depth + p·width + o mod width]</c>. A short last panel is padded with zeros so the kernel
/// always runs full tiles. Transposition happens here, so callers never make a transposed copy.
/// </summary>
/// <remarks>
/// The source element (o, p) is at <c>src[o·outerStride + p·depthStride]</c>. When the outer index is contiguous
/// (outerStride = 1: A transposed, B not) each depth step is a straight vector copy; when the depth index is
/// contiguous (A not transposed, B transposed) the block is transposed 16×16 at a time in AVX-512 registers.
/// </remarks>
internal static unsafe class GemmPacking
{
    internal const int PrefetchRowsAhead = 8;

    public static void Pack(float* src, nint outerStride, nint depthStride, int outerCount, int depth, int width, float* dest)
    {
        for (int o0 = 0; o0 < outerCount; o0 += width)
        {
            int rows = Math.Min(width, outerCount - o0);
            PackPanel(src + o0 * outerStride, outerStride, depthStride, rows, depth, width, dest);
            dest += (nint)width * depth;
        }
    }

    /// <summary>Packs one panel: <paramref name="rows"/> ≤ <paramref name="width"/> outer indices, zero-padded to width.</summary>
    public static void PackPanel(float* src, nint outerStride, nint depthStride, int rows, int depth, int width, float* dest)
    {
        if (outerStride == 1 && rows == width)
            CopyRows(src, depthStride, depth, width, dest);
        else if (depthStride == 1 && Avx512F.IsSupported)
            TransposeAvx512(src, outerStride, rows, depth, width, dest);
        else
            PackScalar(src, outerStride, depthStride, rows, depth, width, dest);
    }

    /// <summary>Full panel whose outer index is contiguous: one straight copy of <paramref name="width"/> floats per depth step.</summary>
    private static void CopyRows(float* src, nint depthStride, int depth, int width, float* dest)
    {
        for (int p = 0; p < depth; p++)
        {
            float* s = src + p * depthStride;
            float* d = dest + (nint)p * width;
            // Rows far apart (a wide B) each sit on their own page, out of the hardware prefetcher's reach: fetch
            // a few rows ahead by hand. Prefetches past the end of the matrix are harmless (they never fault).
            float* ahead = s + PrefetchRowsAhead * depthStride;
            Sse.Prefetch0(ahead);
            Sse.Prefetch0(ahead + width - 1);
            int j = 0;
            if (Vector512.IsHardwareAccelerated)
                for (; j + 16 <= width; j += 16) Vector512.Store(Vector512.Load(s + j), d + j);
            for (; j + 8 <= width; j += 8) Vector256.Store(Vector256.Load(s + j), d + j);
            for (; j + 4 <= width; j += 4) Vector128.Store(Vector128.Load(s + j), d + j);
            for (; j < width; j++) d[j] = s[j];
        }
    }

    private static void PackScalar(float* src, nint outerStride, nint depthStride, int rows, int depth, int width, float* dest)
    {
        for (int p = 0; p < depth; p++)
        {
            float* d = dest + (nint)p * width;
            float* s = src + p * depthStride;
            int o = 0;
            for (; o < rows; o++) d[o] = s[o * outerStride];
            for (; o < width; o++) d[o] = 0;
        }
    }

    /// <summary>Depth-contiguous source: transposes 16 outer indices × 16 depth steps per round in registers.</summary>
    private static void TransposeAvx512(float* src, nint outerStride, int rows, int depth, int width, float* dest)
    {
        int depthVectorEnd = depth & ~15;
        for (int r0 = 0; r0 < width; r0 += 16)
        {
            int groupRows = Math.Clamp(rows - r0, 0, 16);
            int groupWidth = Math.Min(16, width - r0);
            Vector512<float> storeMask = LaneMask(groupWidth);
            float* s = src + r0 * outerStride;
            float* d = dest + r0;
            for (int p = 0; p < depthVectorEnd; p += 16)
                Transpose16x16(s + p, outerStride, groupRows, d + (nint)p * width, width, storeMask, groupWidth == 16);
            for (int p = depthVectorEnd; p < depth; p++)
            {
                float* dp = d + (nint)p * width;
                int o = 0;
                for (; o < groupRows; o++) dp[o] = s[o * outerStride + p];
                for (; o < groupWidth; o++) dp[o] = 0;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> LaneMask(int lanes) =>
        Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(lanes)).AsSingle();

    /// <summary>
    /// Reads up to 16 rows (missing rows read as zero) of 16 floats and writes column c of that block as 16
    /// consecutive floats at <c>dest + c·destStride</c> (the first <paramref name="storeMask"/> lanes only when not full).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose16x16(float* src, nint srcStride, int rows, float* dest, nint destStride,
        Vector512<float> storeMask, bool fullStore)
    {
        Vector512<float> r0 = Row(src, srcStride, 0, rows), r1 = Row(src, srcStride, 1, rows);
        Vector512<float> r2 = Row(src, srcStride, 2, rows), r3 = Row(src, srcStride, 3, rows);
        Vector512<float> r4 = Row(src, srcStride, 4, rows), r5 = Row(src, srcStride, 5, rows);
        Vector512<float> r6 = Row(src, srcStride, 6, rows), r7 = Row(src, srcStride, 7, rows);
        Vector512<float> r8 = Row(src, srcStride, 8, rows), r9 = Row(src, srcStride, 9, rows);
        Vector512<float> r10 = Row(src, srcStride, 10, rows), r11 = Row(src, srcStride, 11, rows);
        Vector512<float> r12 = Row(src, srcStride, 12, rows), r13 = Row(src, srcStride, 13, rows);
        Vector512<float> r14 = Row(src, srcStride, 14, rows), r15 = Row(src, srcStride, 15, rows);
        StoreTransposed(r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11, r12, r13, r14, r15, dest, destStride, storeMask, fullStore);
    }

    /// <summary>Writes column c of the 16×16 block held in rows r0…r15 as 16 consecutive floats at <c>dest + c·destStride</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void StoreTransposed(Vector512<float> r0, Vector512<float> r1, Vector512<float> r2, Vector512<float> r3,
        Vector512<float> r4, Vector512<float> r5, Vector512<float> r6, Vector512<float> r7,
        Vector512<float> r8, Vector512<float> r9, Vector512<float> r10, Vector512<float> r11,
        Vector512<float> r12, Vector512<float> r13, Vector512<float> r14, Vector512<float> r15,
        float* dest, nint destStride, Vector512<float> storeMask, bool fullStore)
    {
        // Stage 1: interleave row pairs inside each 128-bit lane.
        Vector512<float> t0 = Avx512F.UnpackLow(r0, r1), t1 = Avx512F.UnpackHigh(r0, r1);
        Vector512<float> t2 = Avx512F.UnpackLow(r2, r3), t3 = Avx512F.UnpackHigh(r2, r3);
        Vector512<float> t4 = Avx512F.UnpackLow(r4, r5), t5 = Avx512F.UnpackHigh(r4, r5);
        Vector512<float> t6 = Avx512F.UnpackLow(r6, r7), t7 = Avx512F.UnpackHigh(r6, r7);
        Vector512<float> t8 = Avx512F.UnpackLow(r8, r9), t9 = Avx512F.UnpackHigh(r8, r9);
        Vector512<float> t10 = Avx512F.UnpackLow(r10, r11), t11 = Avx512F.UnpackHigh(r10, r11);
        Vector512<float> t12 = Avx512F.UnpackLow(r12, r13), t13 = Avx512F.UnpackHigh(r12, r13);
        Vector512<float> t14 = Avx512F.UnpackLow(r14, r15), t15 = Avx512F.UnpackHigh(r14, r15);

        // Stage 2: in lane L, u(4g + j) holds rows 4g..4g+3 of column 4L + j.
        Vector512<float> u0 = Lo64(t0, t2), u1 = Hi64(t0, t2), u2 = Lo64(t1, t3), u3 = Hi64(t1, t3);
        Vector512<float> u4 = Lo64(t4, t6), u5 = Hi64(t4, t6), u6 = Lo64(t5, t7), u7 = Hi64(t5, t7);
        Vector512<float> u8 = Lo64(t8, t10), u9 = Hi64(t8, t10), u10 = Lo64(t9, t11), u11 = Hi64(t9, t11);
        Vector512<float> u12 = Lo64(t12, t14), u13 = Hi64(t12, t14), u14 = Lo64(t13, t15), u15 = Hi64(t13, t15);

        // Stage 3: a 4×4 transpose of 128-bit lanes per j gives columns j, 4 + j, 8 + j, 12 + j.
        LaneTranspose(u0, u4, u8, u12, dest, destStride, 0, storeMask, fullStore);
        LaneTranspose(u1, u5, u9, u13, dest, destStride, 1, storeMask, fullStore);
        LaneTranspose(u2, u6, u10, u14, dest, destStride, 2, storeMask, fullStore);
        LaneTranspose(u3, u7, u11, u15, dest, destStride, 3, storeMask, fullStore);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Row(float* src, nint stride, int r, int rows) =>
        r < rows ? Vector512.Load(src + r * stride) : Vector512<float>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Lo64(Vector512<float> x, Vector512<float> y) =>
        Avx512F.UnpackLow(x.AsDouble(), y.AsDouble()).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Hi64(Vector512<float> x, Vector512<float> y) =>
        Avx512F.UnpackHigh(x.AsDouble(), y.AsDouble()).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void LaneTranspose(Vector512<float> a, Vector512<float> b, Vector512<float> c, Vector512<float> d,
        float* dest, nint destStride, int j, Vector512<float> storeMask, bool fullStore)
    {
        Vector512<float> ab01 = Avx512F.Shuffle4x128(a, b, 0x44), ab23 = Avx512F.Shuffle4x128(a, b, 0xEE);
        Vector512<float> cd01 = Avx512F.Shuffle4x128(c, d, 0x44), cd23 = Avx512F.Shuffle4x128(c, d, 0xEE);
        StoreColumn(Avx512F.Shuffle4x128(ab01, cd01, 0x88), dest + j * destStride, storeMask, fullStore);
        StoreColumn(Avx512F.Shuffle4x128(ab01, cd01, 0xDD), dest + (4 + j) * destStride, storeMask, fullStore);
        StoreColumn(Avx512F.Shuffle4x128(ab23, cd23, 0x88), dest + (8 + j) * destStride, storeMask, fullStore);
        StoreColumn(Avx512F.Shuffle4x128(ab23, cd23, 0xDD), dest + (12 + j) * destStride, storeMask, fullStore);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreColumn(Vector512<float> column, float* dest, Vector512<float> storeMask, bool fullStore)
    {
        if (fullStore) Vector512.Store(column, dest);
        else Avx512F.MaskStore(dest, storeMask, column);
    }
}
