using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using HeadMiner.Tensors;

namespace HeadMiner.Models.Formats;

/// <summary>
/// Span converters between float32 and the two 16-bit float formats stored in checkpoints: IEEE binary16 (F16) and
/// bfloat16 (BF16, the top half of a float32). Checkpoint weights stay 16-bit in memory and are widened per use.
/// </summary>
public static class HalfPrecision
{
    /// <summary>Widens bfloat16 bit patterns to float32. Exact (every BF16 value is a float32).</summary>
    public static void Bf16ToFloat(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        CheckLengths(source.Length, destination.Length);
        HalfWidening.ToFloat(source, destination, HalfFormat.BFloat16);
    }

    /// <summary>Widens IEEE binary16 bit patterns to float32. Exact (subnormals, infinities and NaNs included).</summary>
    public static void F16ToFloat(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        CheckLengths(source.Length, destination.Length);
        HalfWidening.ToFloat(source, destination, HalfFormat.Float16);
    }

    /// <summary>Rounds float32 values to bfloat16 (round to nearest, ties to even; NaN stays NaN).</summary>
    public static void FloatToBf16(ReadOnlySpan<float> source, Span<ushort> destination)
    {
        CheckLengths(source.Length, destination.Length);
        for (int i = 0; i < source.Length; i++) destination[i] = FloatToBf16(source[i]);
    }

    /// <summary>Rounds float32 values to IEEE binary16 (round to nearest even; overflow becomes ±infinity).</summary>
    public static void FloatToF16(ReadOnlySpan<float> source, Span<ushort> destination)
    {
        CheckLengths(source.Length, destination.Length);
        TensorPrimitives.ConvertToHalf(source, MemoryMarshal.Cast<ushort, Half>(destination));
    }

    public static float Bf16ToFloat(ushort bits) => HalfWidening.ToFloat(bits, HalfFormat.BFloat16);

    public static float F16ToFloat(ushort bits) => HalfWidening.ToFloat(bits, HalfFormat.Float16);

    public static ushort FloatToBf16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        // A NaN could round to infinity if its payload sits only in the low half: keep it a quiet NaN.
        if (float.IsNaN(value)) return (ushort)((bits >> 16) | 0x0040);
        bits += 0x7FFFu + ((bits >> 16) & 1);
        return (ushort)(bits >> 16);
    }

    public static ushort FloatToF16(float value) => BitConverter.HalfToUInt16Bits((Half)value);

    private static void CheckLengths(int source, int destination)
    {
        if (source != destination)
            throw new ArgumentException($"source has {source} elements but destination has {destination}");
    }
}
