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

    /// <summary>Attention-logit soft cap of the forward pass (0 = none): dS is then multiplied by 1 − tanh²(s / cap).</summary>
    public float SoftCap;

    private bool _busy;

    /// <summary>The calling thread's instance (nothing allocated per call); a fresh one if that is busy with an outer call.</summary>
    public static AttentionBackwardPass ForThisThread()
    {
        var pass = t_instance ??= new AttentionBackwardPass();
        if (pass._busy) pass = new AttentionBackwardPass();
        pass._busy = true;
        return pass;
    }

    /// <summary>Runs the call described by the fields, then releases the instance.</summary>
    public void Run()
    {
        try
        {
            RunCall();
        }
        finally
        {
            _busy = false;
        }
    }

    private void RunCall()
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
        // dP = dz · vᵀ is a score matrix like q · kᵀ: with enough rows, pack this kv head's values transposed once.
        int panels = (Keys + PanelKeys - 1) / PanelKeys;
        bool packed = Keys > 0 && (long)group * Math.Min(Queries, BlockRows) >= Math.Max(4, HeadDim / 8);
        long packedSize = packed ? (long)panels * HeadDim * PanelKeys : 0;
        long rowsSize = (long)BlockRows * RoundUp(Math.Max(Keys, 1), PanelKeys);
        long gradSize = (long)Keys * HeadDim;
        float* vt = AttentionScratch.ForItem(packedSize + 2 * rowsSize + 2 * gradSize);
        if (packed) PackKeysTransposed(vg, KvRowStride, Keys, HeadDim, vt);
        // dk and dv of this kv head are summed in private dense rows, written out once at the end: rows of dk that
        // other threads write for other kv heads share cache lines with these, and each row is added to many times.
        float* dkg = vt + packedSize + 2 * rowsSize, dvg = dkg + gradSize;
        new Span<float>(dkg, (int)(2 * gradSize)).Clear();
        // With a soft cap the pre-cap scores of a row are recomputed here (the pattern alone does not give them).
        var capRow = SoftCap > 0 ? System.Buffers.ArrayPool<float>.Shared.Rent(Math.Max(Keys, 1)) : null;
        try
        {
            fixed (float* raw = capRow)
            {
                var buffers = new Buffers(packed ? vt : null, vt + packedSize, vt + packedSize + rowsSize, raw);
                for (int t = 0; t < group; t++)
                {
                    int h = g * group + t;
                    for (int i0 = 0; i0 < Queries; i0 += BlockRows)
                        Block(h, kg, vg, dkg, dvg, i0, Math.Min(BlockRows, Queries - i0), buffers);
                }
            }
        }
        finally
        {
            if (capRow is not null) System.Buffers.ArrayPool<float>.Shared.Return(capRow);
        }
        for (int j = 0; j < Keys; j++)
        {
            new ReadOnlySpan<float>(dkg + (long)j * HeadDim, HeadDim).CopyTo(new Span<float>(DK + (long)j * DKvRowStride + g * HeadDim, HeadDim));
            new ReadOnlySpan<float>(dvg + (long)j * HeadDim, HeadDim).CopyTo(new Span<float>(DV + (long)j * DKvRowStride + g * HeadDim, HeadDim));
        }
    }

    private readonly struct Buffers(float* packedValues, float* p, float* ds, float* raw)
    {
        public readonly float* PackedValues = packedValues, P = p, DS = ds, Raw = raw;
    }

    private void Block(int h, float* kg, float* vg, float* dkg, float* dvg, int i0, int rows, in Buffers buffers)
    {
        VisibleRange(FirstQueryPosition + i0, Keys, SlidingWindow, out int blockLo, out _);
        VisibleRange(FirstQueryPosition + i0 + rows - 1, Keys, SlidingWindow, out _, out int blockHi);
        if (blockHi <= blockLo)
        {
            for (int r = 0; r < rows; r++) new Span<float>(DQ + (long)(i0 + r) * DQRowStride + h * HeadDim, HeadDim).Clear();
            return;
        }
        // Rows of p and ds are indexed from `first`, the block's first visible key rounded down to a panel.
        int first = blockLo & ~(PanelKeys - 1);
        int stride = RoundUp(blockHi - first, PanelKeys);
        float* p = buffers.P, ds = buffers.DS;
        float* qh = Q + (long)i0 * QRowStride + h * HeadDim;
        float* dzh = DZ + (long)i0 * DZRowStride + h * HeadDim;

        if (buffers.PackedValues != null)
            PackedRowScores(dzh, DZRowStride, rows, FirstQueryPosition + i0, Keys, SlidingWindow, buffers.PackedValues, HeadDim,
                first, blockHi, 1f, ds, stride);
        for (int r = 0; r < rows; r++)
        {
            VisibleRange(FirstQueryPosition + i0 + r, Keys, SlidingWindow, out int lo, out int hi);
            float* pRow = p + (long)r * stride - first; // indexed by absolute key, like dsRow
            float* dsRow = ds + (long)r * stride - first;
            if (hi <= lo)
            {
                Fill(pRow + blockLo, blockHi - blockLo, 0);
                Fill(dsRow + blockLo, blockHi - blockLo, 0);
                continue;
            }
            int count = hi - lo;
            new ReadOnlySpan<float>(Pattern + ((long)h * Queries + i0 + r) * Keys + lo, count).CopyTo(new Span<float>(pRow + lo, count));
            if (buffers.PackedValues == null) DotScores(dzh + (long)r * DZRowStride, vg, KvRowStride, lo, hi, HeadDim, 1f, dsRow);
            var pSpan = new ReadOnlySpan<float>(pRow + lo, count);
            var dsSpan = new Span<float>(dsRow + lo, count); // dP on entry, dS on exit
            float d = TensorPrimitives.Dot(pSpan, dsSpan);
            TensorPrimitives.Subtract(dsSpan, d, dsSpan);
            TensorPrimitives.Multiply(dsSpan, pSpan, dsSpan);
            if (SoftCap > 0)
            {
                // d(cap·tanh(s/cap))/ds = 1 − tanh²(s/cap), with s = scale·q·k recomputed for the visible keys.
                DotScores(qh + (long)r * QRowStride, kg, KvRowStride, lo, hi, HeadDim, Scale, buffers.Raw - lo);
                var raw = new Span<float>(buffers.Raw, count);
                TensorPrimitives.Divide(raw, SoftCap, raw);
                TensorPrimitives.Tanh(raw, raw);
                for (int j = 0; j < count; j++) dsSpan[j] *= 1 - raw[j] * raw[j];
            }
            TensorPrimitives.Multiply(dsSpan, Scale, dsSpan);
            // Zero the rest of the block's span: the products below run over whole row pairs and key columns.
            Fill(pRow + blockLo, lo - blockLo, 0);
            Fill(pRow + hi, blockHi - hi, 0);
            Fill(dsRow + blockLo, lo - blockLo, 0);
            Fill(dsRow + hi, blockHi - hi, 0);
        }

        // dq = dS · K, four rows at a time over the union of their visible keys (dS is zero elsewhere).
        for (int r = 0; r < rows; r += 4)
        {
            int rb = Math.Min(r + 1, rows - 1), rc = Math.Min(r + 2, rows - 1), rd = Math.Min(r + 3, rows - 1);
            VisibleRange(FirstQueryPosition + i0 + r, Keys, SlidingWindow, out int lo, out _);
            VisibleRange(FirstQueryPosition + i0 + rd, Keys, SlidingWindow, out _, out int hi);
            int count = Math.Max(hi - lo, 0);
            float* c = ds + (lo - first);
            Accumulate4(c + (long)r * stride, c + (long)rb * stride, c + (long)rc * stride, c + (long)rd * stride, 1,
                kg + (long)lo * KvRowStride, KvRowStride, count, HeadDim,
                DQRow(h, i0 + r), DQRow(h, i0 + rb), DQRow(h, i0 + rc), DQRow(h, i0 + rd), add: false);
        }

        // dk += dSᵀ · Q and dv += Pᵀ · dZ, four keys at a time over the block rows that can see any of them.
        for (int j = blockLo; j < blockHi; j += 4)
        {
            int jb = Math.Min(j + 1, blockHi - 1), jc = Math.Min(j + 2, blockHi - 1), jd = Math.Min(j + 3, blockHi - 1);
            long firstRow = (long)j - FirstQueryPosition - i0;
            long endRow = SlidingWindow > 0 ? (long)jd + SlidingWindow - FirstQueryPosition - i0 : rows;
            int rStart = (int)Math.Clamp(firstRow, 0, rows), rEnd = (int)Math.Clamp(endRow, 0, rows);
            if (rEnd <= rStart) continue;
            int cols = rEnd - rStart;
            float* c = ds + (long)rStart * stride - first;
            Accumulate4(c + j, c + jb, c + jc, c + jd, stride, qh + (long)rStart * QRowStride, QRowStride, cols, HeadDim,
                dkg + (long)j * HeadDim, dkg + (long)jb * HeadDim, dkg + (long)jc * HeadDim, dkg + (long)jd * HeadDim, add: true);
            c = p + (long)rStart * stride - first;
            Accumulate4(c + j, c + jb, c + jc, c + jd, stride, dzh + (long)rStart * DZRowStride, DZRowStride, cols, HeadDim,
                dvg + (long)j * HeadDim, dvg + (long)jb * HeadDim, dvg + (long)jc * HeadDim, dvg + (long)jd * HeadDim, add: true);
        }
    }

    private float* DQRow(int h, int i) => DQ + (long)i * DQRowStride + h * HeadDim;
}
