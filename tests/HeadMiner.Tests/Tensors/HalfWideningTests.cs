using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using HeadMiner.Tensors;

namespace HeadMiner.Tests.Tensors;

/// <summary>Widening 16-bit floats, checked on all 65,536 bit patterns against .NET's own Half conversion and the bfloat16 definition.</summary>
public class HalfWideningTests
{
    private static float Expected(ushort bits, HalfFormat format) =>
        format == HalfFormat.BFloat16 ? BitConverter.Int32BitsToSingle(bits << 16) : (float)BitConverter.UInt16BitsToHalf(bits);

    private static void AssertSame(float expected, float actual, ushort bits, HalfFormat format)
    {
        if (float.IsNaN(expected)) Assert.True(float.IsNaN(actual), $"{format} 0x{bits:X4}: {actual}, expected NaN");
        else Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(actual), $"{format} 0x{bits:X4}: {actual}, expected {expected}");
    }

    [Theory]
    [InlineData(HalfFormat.BFloat16)]
    [InlineData(HalfFormat.Float16)]
    public unsafe void EveryBitPatternWidensExactly(HalfFormat format)
    {
        var all = new ushort[65536];
        for (int i = 0; i < all.Length; i++) all[i] = (ushort)i;
        var spans = new float[all.Length];
        HalfWidening.ToFloat(all, spans, format);
        for (int i = 0; i < all.Length; i++)
        {
            AssertSame(Expected(all[i], format), spans[i], all[i], format);
            AssertSame(Expected(all[i], format), HalfWidening.ToFloat(all[i], format), all[i], format);
        }
        // The register form the GEMM's packing uses (AVX-512 machines only; elsewhere the packing never calls it).
        if (!Avx512F.IsSupported) return;
        fixed (ushort* p = all)
            for (int i = 0; i < all.Length; i += 16)
            {
                var vector = HalfWidening.Load16(p + i, format);
                for (int lane = 0; lane < 16; lane++) AssertSame(Expected(all[i + lane], format), vector[lane], all[i + lane], format);
                var partial = HalfWidening.Load16Partial(p + i, 5, format);
                for (int lane = 0; lane < 16; lane++) AssertSame(lane < 5 ? Expected(all[i + lane], format) : 0f, partial[lane], all[i + lane], format);
            }
    }
}
