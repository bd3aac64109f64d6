namespace HeadMiner.Tensors.Kernels;

public static unsafe partial class Attention
{
    /// <summary>
    /// Gradient of <see cref="Forward"/>: from q, k, v, the pattern [heads, queries, keys] that forward produced for
    /// them, and dz (laid out like z), writes dq (like q), dk and dv (like k and v, at row stride
    /// <paramref name="dkvRowStride"/>). The three are overwritten, not accumulated, in their head columns only, so
    /// they may be slices of one fused dQKV buffer. With grouped-query attention dk and dv sum over the query heads
    /// of a group. Masked entries carry no gradient. <paramref name="softCap"/> must be the one forward used.
    /// </summary>
    public static void Backward(
        ReadOnlySpan<float> q, int qRowStride,
        ReadOnlySpan<float> k, ReadOnlySpan<float> v, int kvRowStride,
        ReadOnlySpan<float> pattern,
        ReadOnlySpan<float> dz, int dzRowStride,
        Span<float> dq, int dqRowStride,
        Span<float> dk, Span<float> dv, int dkvRowStride,
        int queries, int keys, int heads, int kvHeads, int headDim, float scale,
        AttentionMask mask, float softCap = 0)
    {
        CheckShape(queries, keys, heads, kvHeads, headDim, mask);
        CheckRows(q.Length, queries, qRowStride, heads * headDim, nameof(q));
        CheckRows(k.Length, keys, kvRowStride, kvHeads * headDim, nameof(k));
        CheckRows(v.Length, keys, kvRowStride, kvHeads * headDim, nameof(v));
        CheckMatrix(pattern.Length, heads, queries, keys, nameof(pattern));
        CheckRows(dz.Length, queries, dzRowStride, heads * headDim, nameof(dz));
        CheckRows(dq.Length, queries, dqRowStride, heads * headDim, nameof(dq));
        CheckRows(dk.Length, keys, dkvRowStride, kvHeads * headDim, nameof(dk));
        CheckRows(dv.Length, keys, dkvRowStride, kvHeads * headDim, nameof(dv));

        fixed (float* qp = q, kp = k, vp = v, pp = pattern, dzp = dz, dqp = dq, dkp = dk, dvp = dv)
        {
            var pass = AttentionBackwardPass.ForThisThread();
            pass.Q = qp; pass.K = kp; pass.V = vp; pass.Pattern = pp; pass.DZ = dzp;
            pass.DQ = dqp; pass.DK = dkp; pass.DV = dvp;
            pass.QRowStride = qRowStride; pass.KvRowStride = kvRowStride; pass.DZRowStride = dzRowStride;
            pass.DQRowStride = dqRowStride; pass.DKvRowStride = dkvRowStride;
            pass.Queries = queries; pass.Keys = keys; pass.Heads = heads; pass.KvHeads = kvHeads; pass.HeadDim = headDim;
            pass.FirstQueryPosition = mask.FirstQueryPosition; pass.SlidingWindow = mask.SlidingWindow;
            pass.Scale = scale;
            pass.SoftCap = softCap;
            pass.Run();
        }
    }
}
