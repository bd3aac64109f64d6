using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace HeadMiner.Tensors.Kernels.GemmParts;

/// <summary>One 16-bit format's exact widening of 16 values into a register, as a type so the packing loops specialise per format.</summary>
internal unsafe interface IHalfWidener
{
    static abstract HalfFormat Format { get; }

    static abstract Vector512<float> Load16(ushort* p);
}

internal readonly unsafe struct Bf16Widener : IHalfWidener
{
    public static HalfFormat Format => HalfFormat.BFloat16;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16(ushort* p) => HalfWidening.Bf16x16(Vector256.Load(p));
}

internal readonly unsafe struct F16Widener : IHalfWidener
{
    public static HalfFormat Format => HalfFormat.Float16;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16(ushort* p) => HalfWidening.F16x16(Vector256.Load(p));
}

/// <summary>
/// <see cref="GemmPacking"/> for a 16-bit B (BF16/F16 weights kept as stored): the same panel layout, with each
/// value widened to float32 as it is copied, so the micro-kernel runs unchanged and the product reads half the bytes
/// of the weights. Widening is exact, so the packed panel equals the one packed from a widened float32 copy: a
/// product with 16-bit B is bit for bit the product with its widened values.
/// </summary>
internal static unsafe class GemmHalfPacking
{
    public static void PackPanel(ushort* src, nint outerStride, nint depthStride, int rows, int depth, int width, float* dest, HalfFormat format)
    {
        if (format == HalfFormat.BFloat16) PackPanel<Bf16Widener>(src, outerStride, depthStride, rows, depth, width, dest);
        else PackPanel<F16Widener>(src, outerStride, depthStride, rows, depth, width, dest);
    }

    private static void PackPanel<TWiden>(ushort* src, nint outerStride, nint depthStride, int rows, int depth, int width, float* dest)
        where TWiden : IHalfWidener
    {
        if (Avx512F.IsSupported && outerStride == 1 && rows == width && width % 16 == 0)
            CopyRows<TWiden>(src, depthStride, depth, width, dest);
        else if (Avx512F.IsSupported && depthStride == 1)
            Transpose<TWiden>(src, outerStride, rows, depth, width, dest);
        else
            PackScalar(src, outerStride, depthStride, rows, depth, width, dest, TWiden.Format);
    }

    /// <summary>Full panel whose outer index is contiguous ([in, out] weights): widen <paramref name="width"/> values per depth step.</summary>
    private static void CopyRows<TWiden>(ushort* src, nint depthStride, int depth, int width, float* dest) where TWiden : IHalfWidener
    {
        for (int p = 0; p < depth; p++)
        {
            ushort* s = src + p * depthStride;
            float* d = dest + (nint)p * width;
            ushort* ahead = s + GemmPacking.PrefetchRowsAhead * depthStride;
            Sse.Prefetch0(ahead);
            Sse.Prefetch0(ahead + width - 1);
            for (int j = 0; j < width; j += 16) Vector512.Store(TWiden.Load16(s + j), d + j);
        }
    }

    /// <summary>Depth-contiguous source ([out, in] weights, nn.Linear): widen 16 rows × 16 depth steps and transpose them in registers.</summary>
    private static void Transpose<TWiden>(ushort* src, nint outerStride, int rows, int depth, int width, float* dest) where TWiden : IHalfWidener
    {
        int depthVectorEnd = depth & ~15;
        HalfFormat format = TWiden.Format;
        for (int r0 = 0; r0 < width; r0 += 16)
        {
            int groupRows = Math.Clamp(rows - r0, 0, 16);
            int groupWidth = Math.Min(16, width - r0);
            Vector512<float> storeMask = GemmPacking.LaneMask(groupWidth);
            bool fullStore = groupWidth == 16;
            ushort* s = src + r0 * outerStride;
            float* d = dest + r0;
            for (int p = 0; p < depthVectorEnd; p += 16)
            {
                ushort* sp = s + p;
                GemmPacking.StoreTransposed(
                    Row<TWiden>(sp, outerStride, 0, groupRows), Row<TWiden>(sp, outerStride, 1, groupRows),
                    Row<TWiden>(sp, outerStride, 2, groupRows), Row<TWiden>(sp, outerStride, 3, groupRows),
                    Row<TWiden>(sp, outerStride, 4, groupRows), Row<TWiden>(sp, outerStride, 5, groupRows),
                    Row<TWiden>(sp, outerStride, 6, groupRows), Row<TWiden>(sp, outerStride, 7, groupRows),
                    Row<TWiden>(sp, outerStride, 8, groupRows), Row<TWiden>(sp, outerStride, 9, groupRows),
                    Row<TWiden>(sp, outerStride, 10, groupRows), Row<TWiden>(sp, outerStride, 11, groupRows),
                    Row<TWiden>(sp, outerStride, 12, groupRows), Row<TWiden>(sp, outerStride, 13, groupRows),
                    Row<TWiden>(sp, outerStride, 14, groupRows), Row<TWiden>(sp, outerStride, 15, groupRows),
                    d + (nint)p * width, width, storeMask, fullStore);
            }
            for (int p = depthVectorEnd; p < depth; p++)
            {
                float* dp = d + (nint)p * width;
                int o = 0;
                for (; o < groupRows; o++) dp[o] = HalfWidening.ToFloat(s[o * outerStride + p], format);
                for (; o < groupWidth; o++) dp[o] = 0;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Row<TWiden>(ushort* src, nint stride, int r, int rows) where TWiden : IHalfWidener =>
        r < rows ? TWiden.Load16(src + r * stride) : Vector512<float>.Zero;

    private static void PackScalar(ushort* src, nint outerStride, nint depthStride, int rows, int depth, int width, float* dest, HalfFormat format)
    {
        for (int p = 0; p < depth; p++)
        {
            float* d = dest + (nint)p * width;
            ushort* s = src + p * depthStride;
            int o = 0;
            for (; o < rows; o++) d[o] = HalfWidening.ToFloat(s[o * outerStride], format);
            for (; o < width; o++) d[o] = 0;
        }
    }
}
