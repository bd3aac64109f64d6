using System.Numerics;
using System.Runtime.InteropServices;

namespace HeadMiner.Tensors.Kernels;

/// <summary>Which pairs of a head's dimensions a rotary embedding rotates together.</summary>
public enum RotaryStyle
{
    /// <summary>Pairs (i, i + rotaryDim/2): GPT-NeoX, Hugging Face Llama/Mistral/Qwen2/Phi-3 checkpoints.</summary>
    RotateHalf,

    /// <summary>Pairs (2i, 2i+1): llama2.c, GPT-J, Meta's original Llama code.</summary>
    Interleaved,
}

/// <summary>
/// Rotary position embeddings applied in place to the first rotaryDim dimensions of every head, and the cos/sin
/// tables they read. Rotation is linear and orthogonal, so the backward pass is the same call with
/// <c>inverse: true</c> applied to the gradient. Special values affect only their own pair: a NaN makes both
/// elements of its pair NaN; a ±∞ makes both non-finite (±∞, or NaN where it meets an exact 0 in the table, e.g.
/// sin θ = 0 at position 0: ∞·0).
/// </summary>
public static class Rotary
{
    /// <summary>
    /// x holds <paramref name="tokens"/> rows of stride <paramref name="rowStride"/>; head h of a row occupies
    /// columns [h·headDim, (h+1)·headDim). Pair i of the token at position p is rotated by angle θ with
    /// cos θ = cos[p·(rotaryDim/2) + i], sin θ = sin[…] (tables built by the model for its theta and scaling).
    /// Dimensions [rotaryDim, headDim) of each head (partial rotary) are left untouched.
    /// <paramref name="inverse"/> rotates by −θ (the backward pass).
    /// </summary>
    public static void Apply(Span<float> x, int tokens, int rowStride, int heads, int headDim, int rotaryDim,
        ReadOnlySpan<float> cos, ReadOnlySpan<float> sin, ReadOnlySpan<int> positions, RotaryStyle style, bool inverse = false)
    {
        if (rotaryDim < 0 || rotaryDim % 2 != 0 || rotaryDim > headDim)
            throw new ArgumentOutOfRangeException(nameof(rotaryDim), $"rotary dimension {rotaryDim} must be even and at most the head dimension {headDim}");
        if (heads * headDim > rowStride) throw new ArgumentException($"{heads} heads of {headDim} do not fit a row stride of {rowStride}", nameof(rowStride));
        if (positions.Length < tokens) throw new ArgumentException($"{positions.Length} positions for {tokens} tokens", nameof(positions));
        if (tokens > 0 && (long)(tokens - 1) * rowStride + heads * headDim > x.Length)
            throw new ArgumentException($"x has {x.Length} elements, {tokens} rows of stride {rowStride} need more", nameof(x));
        if (cos.Length != sin.Length) throw new ArgumentException($"cos table has {cos.Length} entries, sin table {sin.Length}", nameof(sin));
        int half = rotaryDim / 2;
        if (half == 0) return;
        int tablePositions = cos.Length / half;
        for (int t = 0; t < tokens; t++)
        {
            int p = positions[t];
            if ((uint)p >= (uint)tablePositions)
                throw new ArgumentOutOfRangeException(nameof(positions), $"position {p} of token {t} is outside the rotary table's {tablePositions} positions");
            var c = cos.Slice(p * half, half);
            var s = sin.Slice(p * half, half);
            for (int h = 0; h < heads; h++)
            {
                var head = x.Slice(t * rowStride + h * headDim, rotaryDim);
                if (style == RotaryStyle.RotateHalf) RotateHalf(head, c, s, inverse);
                else RotateInterleaved(head, c, s, inverse);
            }
        }
    }

    /// <summary>
    /// The standard inverse frequencies θ^(−2i/rotaryDim), i = 0 … rotaryDim/2 − 1, in double. A model with
    /// rope scaling (Llama 3, linear, NTK) adjusts these before <see cref="BuildTables"/>.
    /// </summary>
    public static double[] DefaultInverseFrequencies(int rotaryDim, double theta)
    {
        if (rotaryDim <= 0 || rotaryDim % 2 != 0) throw new ArgumentOutOfRangeException(nameof(rotaryDim), $"rotary dimension {rotaryDim} must be positive and even");
        if (!(theta > 0)) throw new ArgumentOutOfRangeException(nameof(theta), $"rotary base {theta} must be positive");
        var inverse = new double[rotaryDim / 2];
        for (int i = 0; i < inverse.Length; i++) inverse[i] = Math.Pow(theta, -2.0 * i / rotaryDim);
        return inverse;
    }

    /// <summary>
    /// Fills the tables <see cref="Apply"/> reads: cos[p·half + i] = cos(p·inverseFrequencies[i]) and likewise sin,
    /// for positions p in [0, maxPositions), half = inverseFrequencies.Length. Angles are computed in double and
    /// rounded once (a float angle p·f is off by ~1e-4 rad at p ≈ 4000).
    /// </summary>
    public static void BuildTables(int maxPositions, ReadOnlySpan<double> inverseFrequencies, Span<float> cos, Span<float> sin)
    {
        int half = inverseFrequencies.Length;
        long needed = (long)maxPositions * half;
        if (maxPositions < 0) throw new ArgumentOutOfRangeException(nameof(maxPositions));
        if (cos.Length < needed || sin.Length < needed)
            throw new ArgumentException($"tables for {maxPositions} positions × {half} frequencies need {needed} entries; cos has {cos.Length}, sin {sin.Length}");
        for (int p = 0; p < maxPositions; p++)
        {
            for (int i = 0; i < half; i++)
            {
                double angle = p * inverseFrequencies[i];
                cos[p * half + i] = (float)Math.Cos(angle);
                sin[p * half + i] = (float)Math.Sin(angle);
            }
        }
    }

    private static void RotateHalf(Span<float> head, ReadOnlySpan<float> cos, ReadOnlySpan<float> sin, bool inverse)
    {
        int half = cos.Length, i = 0, w = Vector<float>.Count;
        ref float a0 = ref MemoryMarshal.GetReference(head);
        ref float b0 = ref head[half];
        ref float c0 = ref MemoryMarshal.GetReference(cos);
        ref float s0 = ref MemoryMarshal.GetReference(sin);
        for (; i + w <= half; i += w)
        {
            var a = Vector.LoadUnsafe(ref a0, (nuint)i);
            var b = Vector.LoadUnsafe(ref b0, (nuint)i);
            var c = Vector.LoadUnsafe(ref c0, (nuint)i);
            var s = Vector.LoadUnsafe(ref s0, (nuint)i);
            if (inverse) s = -s;
            (a * c - b * s).StoreUnsafe(ref a0, (nuint)i);
            (b * c + a * s).StoreUnsafe(ref b0, (nuint)i);
        }
        for (; i < half; i++)
        {
            float sn = inverse ? -sin[i] : sin[i];
            float a = head[i], b = head[i + half];
            head[i] = a * cos[i] - b * sn;
            head[i + half] = b * cos[i] + a * sn;
        }
    }

    private static void RotateInterleaved(Span<float> head, ReadOnlySpan<float> cos, ReadOnlySpan<float> sin, bool inverse)
    {
        // Adjacent pairs: scalar, the rotation is a negligible cost next to the projections around it.
        for (int i = 0; i < cos.Length; i++)
        {
            float sn = inverse ? -sin[i] : sin[i];
            float a = head[2 * i], b = head[2 * i + 1];
            head[2 * i] = a * cos[i] - b * sn;
            head[2 * i + 1] = b * cos[i] + a * sn;
        }
    }
}
