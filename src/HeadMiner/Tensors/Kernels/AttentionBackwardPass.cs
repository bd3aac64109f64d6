using System.Numerics.Tensors;
using static HeadMiner.Tensors.Kernels.AttentionKernels;

namespace HeadMiner.Tensors.Kernels;

/// <summary>
/// One work item of <see cref="Attention.Backward"/>: everything that touches kv head g. dk and dv of a kv head sum
/// over all its query heads, so one item owns them and no two threads ever add into the same row. Query rows go in
/// blocks; per block the pattern and dS = scale · P ∘ (dP − rowsum(P ∘ dP)) live in per-thread buffers only.
/// </summary>
internal sealed unsafe class AttentionBackwardPass : IParallelBody
{
    private const int BlockRows = 32;

    [ThreadStatic] private static AttentionBackwardPass? t_instance;

    public float* Q, K, V, Pattern, DZ, DQ, DK, DV;
    public int QRowStride, KvRowStride, DZRowStride, DQRowStride, DKvRowStride;
    public int Queries, Keys, Heads, KvHeads, HeadDim, FirstQueryPosition, SlidingWindow;
    public float Scale;

    public static AttentionBackwardPass ForThisThread() => t_instance ??= new AttentionBackwardPass();

    public void Run()
    {
        long work = (long)Heads * Queries * Math.Min(Keys, SlidingWindow > 0 ? SlidingWindow : Keys) * HeadDim;
        if (work < 1 << 16 || WorkerPool.MaxThreads == 1)
            for (int g = 0; g < KvHeads; g++) Invoke(g);
        else
            WorkerPool.For(KvHeads, this);
        Q = K = V = Pattern = DZ = DQ = DK = DV = null;
    }

    public void Invoke(int g)
    {
        int group = Heads / KvHeads;
        float* kg = K + g * HeadDim, vg = V + g * HeadDim;
        float* dkg = DK + g * HeadDim, dvg = DV + g * HeadDim;
        for (int j = 0; j < Keys; j++)
        {
            new Span<float>(dkg + (long)j * DKvRowStride, HeadDim).Clear();
            new Span<float>(dvg + (long)j * DKvRowStride, HeadDim).Clear();
        }
        for (int t = 0; t < group; t++)
        {
            int h = g * group + t;
            for (int i0 = 0; i0 < Queries; i0 += BlockRows)
                Block(h, kg, vg, dkg, dvg, i0, Math.Min(BlockRows, Queries - i0));
        }
    }

    private void Block(int h, float* kg, float* vg, float* dkg, float* dvg, int i0, int rows)
    {
        VisibleRange(FirstQueryPosition + i0, Keys, SlidingWindow, out int blockLo, out _);
        VisibleRange(FirstQueryPosition + i0 + rows - 1, Keys, SlidingWindow, out _, out int blockHi);
        int n = blockHi - blockLo;
        if (n <= 0)
        {
            for (int r = 0; r < rows; r++) new Span<float>(DQ + (long)(i0 + r) * DQRowStride + h * HeadDim, HeadDim).Clear();
            return;
        }
        int stride = RoundUp(n, Lanes);
        float* p = AttentionScratch.ForItem(2L * rows * stride);
        float* ds = p + (long)rows * stride;
        float* qh = Q + (long)i0 * QRowStride + h * HeadDim;
        float* dzh = DZ + (long)i0 * DZRowStride + h * HeadDim;

        for (int r = 0; r < rows; r++)
        {
            VisibleRange(FirstQueryPosition + i0 + r, Keys, SlidingWindow, out int lo, out int hi);
            float* pRow = p + (long)r * stride - blockLo; // indexed by absolute key, like dsRow
            float* dsRow = ds + (long)r * stride - blockLo;
            Fill(pRow + blockLo, n, 0);
            Fill(dsRow + blockLo, n, 0);
            if (hi <= lo) continue;
            int count = hi - lo;
            new ReadOnlySpan<float>(Pattern + ((long)h * Queries + i0 + r) * Keys + lo, count).CopyTo(new Span<float>(pRow + lo, count));
            DotScores(dzh + (long)r * DZRowStride, vg, KvRowStride, lo, hi, HeadDim, 1f, dsRow); // dP = dz · vᵀ
            var pSpan = new ReadOnlySpan<float>(pRow + lo, count);
            var dsSpan = new Span<float>(dsRow + lo, count);
            float d = TensorPrimitives.Dot(pSpan, dsSpan);
            TensorPrimitives.Subtract(dsSpan, d, dsSpan);
            TensorPrimitives.Multiply(dsSpan, pSpan, dsSpan);
            TensorPrimitives.Multiply(dsSpan, Scale, dsSpan);
        }

        // dq = dS · K, two rows at a time over the union of their visible keys (dS is zero elsewhere).
        for (int r = 0; r < rows; r += 2)
        {
            int rb = Math.Min(r + 1, rows - 1);
            VisibleRange(FirstQueryPosition + i0 + r, Keys, SlidingWindow, out int lo, out _);
            VisibleRange(FirstQueryPosition + i0 + rb, Keys, SlidingWindow, out _, out int hi);
            int count = Math.Max(hi - lo, 0);
            Accumulate2(ds + (long)r * stride + (lo - blockLo), ds + (long)rb * stride + (lo - blockLo), 1,
                kg + (long)lo * KvRowStride, KvRowStride, count, HeadDim,
                DQ + (long)(i0 + r) * DQRowStride + h * HeadDim, DQ + (long)(i0 + rb) * DQRowStride + h * HeadDim, add: false);
        }

        // dk += dSᵀ · Q and dv += Pᵀ · dZ, two keys at a time over the block rows that can see either key.
        for (int j = blockLo; j < blockHi; j += 2)
        {
            int jb = Math.Min(j + 1, blockHi - 1);
            long first = (long)j - FirstQueryPosition - i0;
            long end = SlidingWindow > 0 ? (long)jb + SlidingWindow - FirstQueryPosition - i0 : rows;
            int rStart = (int)Math.Clamp(first, 0, rows), rEnd = (int)Math.Clamp(end, 0, rows);
            if (rEnd <= rStart) continue;
            int cols = rEnd - rStart;
            long at = (long)rStart * stride;
            Accumulate2(ds + at + (j - blockLo), ds + at + (jb - blockLo), stride,
                qh + (long)rStart * QRowStride, QRowStride, cols, HeadDim,
                dkg + (long)j * DKvRowStride, dkg + (long)jb * DKvRowStride, add: true);
            Accumulate2(p + at + (j - blockLo), p + at + (jb - blockLo), stride,
                dzh + (long)rStart * DZRowStride, DZRowStride, cols, HeadDim,
                dvg + (long)j * DKvRowStride, dvg + (long)jb * DKvRowStride, add: true);
        }
    }
}
