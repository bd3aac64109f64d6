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
        for (int r = 0; r < rows; r += 2)
        {
            int rb = Math.Min(r + 1, rows - 1);
            float* pa = Pattern + ((long)h * Queries + i0 + r) * Keys;
            float* pb = Pattern + ((long)h * Queries + i0 + rb) * Keys;
            NonZeroSpan(pa, Keys, out int loA, out int hiA);
            NonZeroSpan(pb, Keys, out int loB, out int hiB);
            int lo = Math.Min(loA, loB), hi = Math.Max(hiA, hiB);
            Accumulate2(pa + lo, pb + lo, 1, vg + (long)lo * VRowStride, VRowStride, Math.Max(hi - lo, 0), HeadDim,
                Z + (long)(i0 + r) * ZRowStride + h * HeadDim, Z + (long)(i0 + rb) * ZRowStride + h * HeadDim, add: false);
        }
    }

    // [lo, hi) from the first to past the last entry that is not zero; lo = keys, hi = 0 when the row is all zeros.
    private static void NonZeroSpan(float* row, int keys, out int lo, out int hi)
    {
        var span = new ReadOnlySpan<float>(row, keys);
        int first = span.IndexOfAnyExcept(0f);
        if (first < 0)
        {
            lo = keys;
            hi = 0;
            return;
        }
        lo = first;
        hi = span.LastIndexOfAnyExcept(0f) + 1;
    }
}
