namespace HeadMiner.Tensors.Kernels;

/// <summary>What keys a query may attend to, beyond causality.</summary>
public readonly ref struct AttentionMask
{
    /// <summary>Absolute position of query 0 among the keys (keys − queries when the queries are the last tokens; 0 for a full prompt).</summary>
    public int FirstQueryPosition { get; init; }

    /// <summary>If &gt; 0, query at position p sees only keys in (p − SlidingWindow, p] (GPT-Neo local layers, Mistral).</summary>
    public int SlidingWindow { get; init; }

    /// <summary>Optional per-key validity (false = padding); empty means every key is valid.</summary>
    public ReadOnlySpan<bool> KeyValid { get; init; }
}

/// <summary>
/// Causal multi-head attention for one sequence, with grouped-query support (query head h reads k/v head
/// h / (heads / kvHeads)). Inputs are row-major blocks whose rows may be wider than the heads (fused QKV buffers).
/// </summary>
public static class Attention
{
    /// <summary>
    /// z[i, h, :] = Σ_j softmax_j(scale · q[i,h]·k[j,g] + mask) · v[j, g]. Optional outputs (empty span = not computed):
    /// <paramref name="scores"/> [heads, queries, keys] (scaled, masked entries −∞) and <paramref name="pattern"/>
    /// [heads, queries, keys] (masked entries exactly 0). A query with no visible key gets z = 0 and a zero pattern row.
    /// </summary>
    public static void Forward(
        ReadOnlySpan<float> q, int qRowStride,
        ReadOnlySpan<float> k, ReadOnlySpan<float> v, int kvRowStride,
        Span<float> z, int zRowStride,
        int queries, int keys, int heads, int kvHeads, int headDim, float scale,
        AttentionMask mask, Span<float> scores = default, Span<float> pattern = default)
    {
        int group = heads / kvHeads;
        var row = new float[keys];
        for (int h = 0; h < heads; h++)
        {
            int g = h / group;
            for (int i = 0; i < queries; i++)
            {
                int pos = mask.FirstQueryPosition + i;
                float max = float.NegativeInfinity;
                for (int j = 0; j < keys; j++)
                {
                    bool visible = j <= pos && (mask.SlidingWindow <= 0 || j > pos - mask.SlidingWindow) && (mask.KeyValid.IsEmpty || mask.KeyValid[j]);
                    float s = float.NegativeInfinity;
                    if (visible)
                    {
                        s = 0;
                        for (int d = 0; d < headDim; d++) s += q[i * qRowStride + h * headDim + d] * k[j * kvRowStride + g * headDim + d];
                        s *= scale;
                    }
                    row[j] = s;
                    if (!scores.IsEmpty) scores[(h * queries + i) * keys + j] = s;
                    max = MathF.Max(max, s);
                }
                float sum = 0;
                for (int j = 0; j < keys; j++) sum += row[j] = float.IsNegativeInfinity(row[j]) ? 0 : MathF.Exp(row[j] - max);
                var zr = z.Slice(i * zRowStride + h * headDim, headDim);
                zr.Clear();
                for (int j = 0; j < keys; j++)
                {
                    float p = sum > 0 ? row[j] / sum : 0;
                    if (!pattern.IsEmpty) pattern[(h * queries + i) * keys + j] = p;
                    if (p == 0) continue;
                    for (int d = 0; d < headDim; d++) zr[d] += p * v[j * kvRowStride + g * headDim + d];
                }
            }
        }
    }
}
