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

    /// <summary>
    /// The number of queries the kernel chooses its score path by (packed keys or dot products; the two sum in another
    /// order), when not this call's own (0): a call for some rows of a longer pass that must give that pass's bits.
    /// </summary>
    public int PathQueries { get; init; }
}

/// <summary>
/// Causal multi-head attention for one sequence, with grouped-query support (query head h reads k/v head
/// h / (heads / kvHeads)). Inputs are row-major blocks whose rows may be wider than the heads (fused QKV buffers).
/// <see cref="Forward"/> is the fused kernel; <see cref="Scores"/> → <see cref="ScoresToPattern"/> →
/// <see cref="ApplyPattern"/> are the same computation in three steps, so that hooks can read or overwrite the scores
/// and the pattern in between. <see cref="Backward"/> is its gradient.
/// </summary>
public static unsafe partial class Attention
{
    /// <summary>
    /// z[i, h, :] = Σ_j softmax_j(scale · q[i,h]·k[j,g] + mask) · v[j, g]. Optional outputs (empty span = not computed):
    /// <paramref name="scores"/> [heads, queries, keys] (scaled, masked entries −∞) and <paramref name="pattern"/>
    /// [heads, queries, keys] (masked entries exactly 0). A query with no visible key gets z = 0 and a zero pattern row.
    /// Only z's head columns are written (its rows may be slices of a wider buffer); z must not overlap q, k or v.
    /// Masked keys get weight exactly 0, so their values must be finite (0 · ∞ is NaN), as any real activation is.
    /// With <paramref name="softCap"/> &gt; 0 (Gemma 2) each visible score becomes cap·tanh(score / cap) before the
    /// mask and softmax, and <paramref name="scores"/> holds the capped values.
    /// Threads: <see cref="WorkerPool"/>; memory: per-thread scratch of about 32 × keys floats, plus one copy of k.
    /// </summary>
    public static void Forward(
        ReadOnlySpan<float> q, int qRowStride,
        ReadOnlySpan<float> k, ReadOnlySpan<float> v, int kvRowStride,
        Span<float> z, int zRowStride,
        int queries, int keys, int heads, int kvHeads, int headDim, float scale,
        AttentionMask mask, Span<float> scores = default, Span<float> pattern = default, float softCap = 0)
    {
        CheckShape(queries, keys, heads, kvHeads, headDim, mask);
        CheckRows(q.Length, queries, qRowStride, heads * headDim, nameof(q));
        CheckRows(k.Length, keys, kvRowStride, kvHeads * headDim, nameof(k));
        CheckRows(v.Length, keys, kvRowStride, kvHeads * headDim, nameof(v));
        CheckRows(z.Length, queries, zRowStride, heads * headDim, nameof(z));
        CheckOptionalMatrix(scores.Length, heads, queries, keys, nameof(scores));
        CheckOptionalMatrix(pattern.Length, heads, queries, keys, nameof(pattern));
        if (queries == 0) return;

        fixed (float* qp = q, kp = k, vp = v, zp = z, sp = scores, pp = pattern)
        fixed (bool* valid = mask.KeyValid)
        {
            var pass = AttentionForwardPass.ForThisThread();
            pass.Q = qp; pass.K = kp; pass.V = vp; pass.Z = zp;
            pass.ScoresOut = scores.IsEmpty ? null : sp;
            pass.PatternOut = pattern.IsEmpty ? null : pp;
            pass.KeyValid = mask.KeyValid.IsEmpty ? null : valid;
            pass.QRowStride = qRowStride; pass.KvRowStride = kvRowStride; pass.ZRowStride = zRowStride;
            pass.Queries = queries; pass.Keys = keys; pass.Heads = heads; pass.KvHeads = kvHeads; pass.HeadDim = headDim;
            pass.FirstQueryPosition = mask.FirstQueryPosition; pass.SlidingWindow = mask.SlidingWindow;
            pass.PathQueries = mask.PathQueries > 0 ? mask.PathQueries : queries;
            pass.Scale = scale;
            pass.SoftCap = softCap;
            pass.ScoresOnly = false;
            pass.Run();
        }
    }

    /// <summary>
    /// scores[h, i, j] = scale · q[i,h]·k[j,g] where key j is visible to query i, −∞ elsewhere; [heads, queries, keys].
    /// Bit-identical to the scores <see cref="Forward"/> produces (capped as there when <paramref name="softCap"/> &gt; 0).
    /// </summary>
    public static void Scores(
        ReadOnlySpan<float> q, int qRowStride,
        ReadOnlySpan<float> k, int kRowStride,
        Span<float> scores,
        int queries, int keys, int heads, int kvHeads, int headDim, float scale,
        AttentionMask mask, float softCap = 0)
    {
        CheckShape(queries, keys, heads, kvHeads, headDim, mask);
        CheckRows(q.Length, queries, qRowStride, heads * headDim, nameof(q));
        CheckRows(k.Length, keys, kRowStride, kvHeads * headDim, nameof(k));
        CheckMatrix(scores.Length, heads, queries, keys, nameof(scores));
        if (queries == 0) return;

        fixed (float* qp = q, kp = k, sp = scores)
        fixed (bool* valid = mask.KeyValid)
        {
            var pass = AttentionForwardPass.ForThisThread();
            pass.Q = qp; pass.K = kp; pass.V = null; pass.Z = null;
            pass.ScoresOut = sp; pass.PatternOut = null;
            pass.KeyValid = mask.KeyValid.IsEmpty ? null : valid;
            pass.QRowStride = qRowStride; pass.KvRowStride = kRowStride; pass.ZRowStride = 0;
            pass.Queries = queries; pass.Keys = keys; pass.Heads = heads; pass.KvHeads = kvHeads; pass.HeadDim = headDim;
            pass.FirstQueryPosition = mask.FirstQueryPosition; pass.SlidingWindow = mask.SlidingWindow;
            pass.Scale = scale;
            pass.SoftCap = softCap;
            pass.ScoresOnly = true;
            pass.Run();
        }
    }

    /// <summary>
    /// pattern = softmax over the keys each query may see (causal, sliding window, KeyValid) of scores, both
    /// [heads, queries, keys]; masked entries become exact zeros whatever the scores hold there, and a row that sees
    /// nothing (or only −∞ scores) becomes zeros. <paramref name="pattern"/> may be the very same memory as
    /// <paramref name="scores"/> (in place); other overlaps are not supported.
    /// </summary>
    public static void ScoresToPattern(
        ReadOnlySpan<float> scores, Span<float> pattern,
        int heads, int queries, int keys,
        AttentionMask mask)
    {
        CheckShape(queries, keys, heads, 1, 1, mask);
        CheckMatrix(scores.Length, heads, queries, keys, nameof(scores));
        CheckMatrix(pattern.Length, heads, queries, keys, nameof(pattern));
        if (queries == 0 || keys == 0) return;

        fixed (float* sp = scores, pp = pattern)
        fixed (bool* valid = mask.KeyValid)
        {
            var pass = AttentionSoftmaxPass.ForThisThread();
            pass.Scores = sp; pass.Pattern = pp;
            pass.KeyValid = mask.KeyValid.IsEmpty ? null : valid;
            pass.Heads = heads; pass.Queries = queries; pass.Keys = keys;
            pass.FirstQueryPosition = mask.FirstQueryPosition; pass.SlidingWindow = mask.SlidingWindow;
            pass.Run();
        }
    }

    /// <summary>
    /// z[i, h, :] = Σ_j pattern[h, i, j] · v[j, g] for a pattern [heads, queries, keys], whatever it holds (it may have
    /// been edited: every non-zero weight counts, masked or not).
    /// </summary>
    public static void ApplyPattern(
        ReadOnlySpan<float> pattern,
        ReadOnlySpan<float> v, int vRowStride,
        Span<float> z, int zRowStride,
        int queries, int keys, int heads, int kvHeads, int headDim)
    {
        CheckShape(queries, keys, heads, kvHeads, headDim, default);
        CheckMatrix(pattern.Length, heads, queries, keys, nameof(pattern));
        CheckRows(v.Length, keys, vRowStride, kvHeads * headDim, nameof(v));
        CheckRows(z.Length, queries, zRowStride, heads * headDim, nameof(z));
        if (queries == 0) return;

        fixed (float* pp = pattern, vp = v, zp = z)
        {
            var pass = AttentionApplyPatternPass.ForThisThread();
            pass.Pattern = pp; pass.V = vp; pass.Z = zp;
            pass.VRowStride = vRowStride; pass.ZRowStride = zRowStride;
            pass.Heads = heads; pass.KvHeads = kvHeads; pass.Queries = queries; pass.Keys = keys; pass.HeadDim = headDim;
            pass.Run();
        }
    }

    private static void CheckShape(int queries, int keys, int heads, int kvHeads, int headDim, AttentionMask mask)
    {
        if (queries < 0 || keys < 0) throw new ArgumentException($"queries ({queries}) and keys ({keys}) must be ≥ 0");
        if (heads < 1 || kvHeads < 1 || headDim < 1) throw new ArgumentException($"heads ({heads}), kvHeads ({kvHeads}) and headDim ({headDim}) must be ≥ 1");
        if (heads % kvHeads != 0) throw new ArgumentException($"heads ({heads}) must be a multiple of kvHeads ({kvHeads})");
        if (!mask.KeyValid.IsEmpty && mask.KeyValid.Length < keys)
            throw new ArgumentException($"mask.KeyValid has {mask.KeyValid.Length} entries for {keys} keys");
    }

    // rows × width values at a row stride: the last row needs only its width.
    private static void CheckRows(int length, int rows, int rowStride, int width, string name)
    {
        if (rowStride < width) throw new ArgumentException($"{name}: row stride {rowStride} is narrower than the {width} values of a row");
        if (rows > 0 && length < (long)(rows - 1) * rowStride + width)
            throw new ArgumentException($"{name} holds {length} floats; {rows} rows of stride {rowStride} need {(long)(rows - 1) * rowStride + width}");
    }

    private static void CheckMatrix(int length, int heads, int queries, int keys, string name)
    {
        if (length < (long)heads * queries * keys)
            throw new ArgumentException($"{name} holds {length} floats; [heads {heads}, queries {queries}, keys {keys}] needs {(long)heads * queries * keys}");
    }

    private static void CheckOptionalMatrix(int length, int heads, int queries, int keys, string name)
    {
        if (length != 0) CheckMatrix(length, heads, queries, keys, name);
    }
}
