using HeadMiner.Models.Formats;

namespace HeadMiner.Tests.Formats;

public class HalfPrecisionTests
{
    private static ushort[] AllPatterns() => Enumerable.Range(0, 65536).Select(i => (ushort)i).ToArray();

    [Fact]
    public void Bf16SpanConversionIsTheTopHalfOfFloat32ForEveryPattern()
    {
        var bits = AllPatterns();
        var floats = new float[bits.Length];
        HalfPrecision.Bf16ToFloat(bits, floats);
        for (int i = 0; i < bits.Length; i++)
            Assert.Equal((uint)bits[i] << 16, BitConverter.SingleToUInt32Bits(floats[i]));
    }

    [Fact]
    public void Bf16SpanConversionHandlesTailsShorterThanAVector()
    {
        for (int n = 0; n < 40; n++)
        {
            var bits = AllPatterns().AsSpan(0x3F00, n).ToArray();
            var floats = new float[n];
            HalfPrecision.Bf16ToFloat(bits, floats);
            Assert.Equal(bits.Select(HalfPrecision.Bf16ToFloat), floats);
        }
    }

    [Fact]
    public void F16SpanConversionMatchesSystemHalfForEveryPattern()
    {
        var bits = AllPatterns();
        var floats = new float[bits.Length];
        HalfPrecision.F16ToFloat(bits, floats);
        for (int i = 0; i < bits.Length; i++)
        {
            float expected = (float)BitConverter.UInt16BitsToHalf(bits[i]);
            if (float.IsNaN(expected)) Assert.True(float.IsNaN(floats[i]), $"pattern {i:X4}");
            else Assert.Equal(BitConverter.SingleToUInt32Bits(expected), BitConverter.SingleToUInt32Bits(floats[i]));
        }
    }

    [Fact]
    public void FloatToBf16RoundsToNearestEvenAndKeepsNaN()
    {
        Assert.Equal(0x3F80, HalfPrecision.FloatToBf16(1f));
        Assert.Equal(0x3F80, HalfPrecision.FloatToBf16(BitConverter.UInt32BitsToSingle(0x3F808000))); // tie, even stays
        Assert.Equal(0x3F82, HalfPrecision.FloatToBf16(BitConverter.UInt32BitsToSingle(0x3F818000))); // tie, odd rounds up
        Assert.Equal(0x3F81, HalfPrecision.FloatToBf16(BitConverter.UInt32BitsToSingle(0x3F808001))); // above the tie
        Assert.True(float.IsNaN(HalfPrecision.Bf16ToFloat(HalfPrecision.FloatToBf16(BitConverter.UInt32BitsToSingle(0x7F800001)))));
        Assert.Equal(0x7F80, HalfPrecision.FloatToBf16(float.PositiveInfinity));
    }

    [Fact]
    public void MismatchedLengthsThrow()
    {
        Assert.Throws<ArgumentException>(() => HalfPrecision.Bf16ToFloat(new ushort[3], new float[2]));
        Assert.Throws<ArgumentException>(() => HalfPrecision.F16ToFloat(new ushort[3], new float[4]));
    }
}
