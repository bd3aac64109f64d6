using System.Numerics;
using System.Runtime.Intrinsics;
using static HeadMiner.Tensors.Kernels.AttentionKernels;

namespace HeadMiner.Tensors.Kernels;

/// <summary>
/// One work item of <see cref="Attention.ApplyPattern"/>: z rows [b·BlockRows, …) of head h. The pattern may have
/// been edited by a hook, so the keys summed are those between each row's first and last non-zero weight rather
/// than those the mask allows; for an unedited causal pattern that is the same span.
/// </summary>
internal sealed unsafe class AttentionApplyPatternPass : IParallelBody
{
    private const int BlockRows = 32;

    [ThreadStatic] private static AttentionApplyPatternPass? t_instance;

    public float* Pattern, V, Z;
    public int VRowStride, ZRowStride, Heads, KvHeads, Queries, Keys, HeadDim;
    private int _blocks;

    private bool _busy;

    /// <summary>The calling thread's instance (nothing allocated per call); a fresh one if that is busy with an outer call.</summary>
    public static AttentionApplyPatternPass ForThisThread()
    {
        var pass = t_instance ??= new AttentionApplyPatternPass();
        if (pass._busy) pass = new AttentionApplyPatternPass();
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
        _blocks = (Queries + BlockRows - 1) / BlockRows;
        int items = Heads * _blocks;
        if ((long)Heads * Queries * Keys * HeadDim < 1 << 16 || WorkerPool.MaxThreads == 1)
            for (int i = 0; i < items; i++) Invoke(i);
        else
            WorkerPool.For(items, this);
        Pattern = V = Z = null;
    }

    public void Invoke(int index)
    {
        int h = index / _blocks;
        int i0 = index % _blocks * BlockRows;
        int rows = Math.Min(Queries - i0, BlockRows);
        float* vg = V + h / (Heads / KvHeads) * HeadDim;
        for (int r = 0; r < rows; r += 4)
        {
            int rb = Math.Min(r + 1, rows - 1), rc = Math.Min(r + 2, rows - 1), rd = Math.Min(r + 3, rows - 1);
            float* pa = PatternRow(h, i0 + r), pb = PatternRow(h, i0 + rb), pc = PatternRow(h, i0 + rc), pd = PatternRow(h, i0 + rd);
            NonZeroSpan(pa, Keys, out int lo, out int hi);
            Widen(pb, ref lo, ref hi);
            Widen(pc, ref lo, ref hi);
            Widen(pd, ref lo, ref hi);
            Accumulate4(pa + lo, pb + lo, pc + lo, pd + lo, 1, vg + (long)lo * VRowStride, VRowStride, Math.Max(hi - lo, 0), HeadDim,
                ZRow(h, i0 + r), ZRow(h, i0 + rb), ZRow(h, i0 + rc), ZRow(h, i0 + rd), add: false);
        }
    }

    private float* PatternRow(int h, int i) => Pattern + ((long)h * Queries + i) * Keys;

    private float* ZRow(int h, int i) => Z + (long)i * ZRowStride + h * HeadDim;

    private void Widen(float* row, ref int lo, ref int hi)
    {
        NonZeroSpan(row, Keys, out int l, out int h);
        lo = Math.Min(lo, l);
        hi = Math.Max(hi, h);
    }

    // [lo, hi) from the first to past the last entry that is not zero (NaN counts as not zero); lo = keys, hi = 0
    // when the row is all zeros.
    private static void NonZeroSpan(float* row, int keys, out int lo, out int hi)
    {
        int j = 0;
        while (j + Lanes <= keys)
        {
            ulong nonZero = ~Vector512.Equals(Vector512.Load(row + j), Vector512<float>.Zero).ExtractMostSignificantBits() & 0xFFFF;
            if (nonZero != 0)
            {
                j += BitOperations.TrailingZeroCount(nonZero);
                break;
            }
            j += Lanes;
        }
        while (j < keys && row[j] == 0) j++;
        if (j >= keys)
        {
            lo = keys;
            hi = 0;
            return;
        }
        lo = j;
        int end = keys;
        while (end - Lanes >= lo)
        {
            ulong nonZero = ~Vector512.Equals(Vector512.Load(row + end - Lanes), Vector512<float>.Zero).ExtractMostSignificantBits() & 0xFFFF;
            if (nonZero != 0)
            {
                end -= Lanes - (64 - BitOperations.LeadingZeroCount(nonZero));
                break;
            }
            end -= Lanes;
        }
        while (end > lo && row[end - 1] == 0) end--;
        hi = end;
    }
}
