namespace HeadMiner.Tensors.Kernels;

/// <summary>Which pairs of a head's dimensions a rotary embedding rotates together.</summary>
public enum RotaryStyle
{
    /// <summary>Pairs (i, i + rotaryDim/2): GPT-NeoX, Hugging Face Llama/Mistral/Qwen2 checkpoints.</summary>
    RotateHalf,

    /// <summary>Pairs (2i, 2i+1): llama2.c, GPT-J, Meta's original Llama code.</summary>
    Interleaved,
}

/// <summary>Rotary position embeddings applied in place to the first rotaryDim dimensions of every head.</summary>
public static class Rotary
{
    /// <summary>
    /// x holds <paramref name="tokens"/> rows of stride <paramref name="rowStride"/>; head h of a row occupies
    /// columns [h·headDim, (h+1)·headDim). Pair i of the token at position p is rotated by angle θ with
    /// cos θ = cos[p·(rotaryDim/2) + i], sin θ = sin[…] (tables built by the model for its theta and scaling).
    /// <paramref name="inverse"/> rotates by −θ (the backward pass).
    /// </summary>
    public static void Apply(Span<float> x, int tokens, int rowStride, int heads, int headDim, int rotaryDim,
        ReadOnlySpan<float> cos, ReadOnlySpan<float> sin, ReadOnlySpan<int> positions, RotaryStyle style, bool inverse = false)
    {
        int half = rotaryDim / 2;
        for (int t = 0; t < tokens; t++)
        {
            int p = positions[t];
            var c = cos.Slice(p * half, half);
            var s = sin.Slice(p * half, half);
            for (int h = 0; h < heads; h++)
            {
                var head = x.Slice(t * rowStride + h * headDim, headDim);
                for (int i = 0; i < half; i++)
                {
                    int i0 = style == RotaryStyle.RotateHalf ? i : 2 * i;
                    int i1 = style == RotaryStyle.RotateHalf ? i + half : 2 * i + 1;
                    float sn = inverse ? -s[i] : s[i];
                    float a = head[i0], b = head[i1];
                    head[i0] = a * c[i] - b * sn;
                    head[i1] = b * c[i] + a * sn;
                }
            }
        }
    }
}
