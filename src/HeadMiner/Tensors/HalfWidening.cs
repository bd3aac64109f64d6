using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace HeadMiner.Tensors;

/// <summary>
/// Exact widening of 16-bit floats to float32: scalars, spans, and 16 at a time in an AVX-512 register for the GEMM's
/// packing and the GEMV. Every BF16 and every F16 value (subnormals and infinities included) is a float32, so the
/// widened value is the stored value; NaNs stay NaN.
/// </summary>
public static unsafe class HalfWidening
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToFloat(ushort bits, HalfFormat format) =>
        format == HalfFormat.BFloat16 ? BitConverter.Int32BitsToSingle(bits << 16) : (float)BitConverter.UInt16BitsToHalf(bits);

    /// <summary>Widens <paramref name="source"/> into <paramref name="destination"/> (same length).</summary>
    public static void ToFloat(ReadOnlySpan<ushort> source, Span<float> destination, HalfFormat format)
    {
        if (source.Length != destination.Length)
            throw new ArgumentException($"source has {source.Length} elements but destination has {destination.Length}");
        if (format == HalfFormat.Float16)
        {
            TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<ushort, Half>(source), destination);
            return;
        }
        int n = source.Length, i = 0;
        ref ushort src = ref MemoryMarshal.GetReference(source);
        ref float dst = ref MemoryMarshal.GetReference(destination);
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i <= n - Vector256<ushort>.Count; i += Vector256<ushort>.Count)
            {
                var (lower, upper) = Vector256.Widen(Vector256.LoadUnsafe(ref src, (nuint)i));
                Vector256.ShiftLeft(lower, 16).AsSingle().StoreUnsafe(ref dst, (nuint)i);
                Vector256.ShiftLeft(upper, 16).AsSingle().StoreUnsafe(ref dst, (nuint)(i + Vector256<uint>.Count));
            }
        }
        else if (Vector128.IsHardwareAccelerated)
        {
            for (; i <= n - Vector128<ushort>.Count; i += Vector128<ushort>.Count)
            {
                var (lower, upper) = Vector128.Widen(Vector128.LoadUnsafe(ref src, (nuint)i));
                Vector128.ShiftLeft(lower, 16).AsSingle().StoreUnsafe(ref dst, (nuint)i);
                Vector128.ShiftLeft(upper, 16).AsSingle().StoreUnsafe(ref dst, (nuint)(i + Vector128<uint>.Count));
            }
        }
        for (; i < n; i++) Unsafe.Add(ref dst, i) = BitConverter.Int32BitsToSingle(Unsafe.Add(ref src, i) << 16);
    }

    /// <summary>16 values at <paramref name="p"/> widened into one register (AVX-512 only).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16(ushort* p, HalfFormat format) =>
        format == HalfFormat.BFloat16 ? Bf16x16(Vector256.Load(p)) : F16x16(Vector256.Load(p));

    /// <summary>The first <paramref name="count"/> (&lt; 16) values at <paramref name="p"/>, the other lanes zero; reads nothing beyond them.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16Partial(ushort* p, int count, HalfFormat format)
    {
        var bits = Vector256<ushort>.Zero;
        for (int i = 0; i < count; i++) bits = bits.WithElement(i, p[i]);
        return format == HalfFormat.BFloat16 ? Bf16x16(bits) : F16x16(bits);
    }

    /// <summary>bfloat16 → float32: zero-extend and shift into the top half.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Bf16x16(Vector256<ushort> bits) =>
        Avx512F.ShiftLeftLogical(Avx512F.ConvertToVector512UInt32(bits), 16).AsSingle();

    /// <summary>
    /// IEEE binary16 → float32 without F16C intrinsics (.NET exposes none): move exponent and mantissa into place and
    /// rebias; infinities/NaNs get the float's all-ones exponent, and zeros/subnormals are renormalised exactly by
    /// subtracting 2^-14 from 2^-14·(1 + mantissa/1024).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> F16x16(Vector256<ushort> bits)
    {
        Vector512<uint> h = Avx512F.ConvertToVector512UInt32(bits);
        Vector512<uint> o = Avx512F.ShiftLeftLogical(h & Vector512.Create(0x7FFFu), 13);
        Vector512<uint> exponent = o & Vector512.Create(0x0F800000u);
        o += Vector512.Create(0x38000000u); // (127 − 15) << 23
        Vector512<uint> infOrNan = Vector512.Equals(exponent, Vector512.Create(0x0F800000u));
        o += infOrNan & Vector512.Create(0x38000000u); // (128 − 16) << 23 more: exponent all ones
        Vector512<uint> small = Vector512.Equals(exponent, Vector512<uint>.Zero);
        Vector512<float> renormalised = (o + Vector512.Create(0x00800000u)).AsSingle() - Vector512.Create(0x38800000u).AsSingle();
        o = Vector512.ConditionalSelect(small, renormalised.AsUInt32(), o);
        return (o | Avx512F.ShiftLeftLogical(h & Vector512.Create(0x8000u), 16)).AsSingle();
    }
}
