using static HeadMiner.Tensors.Kernels.AttentionKernels;

namespace HeadMiner.Tensors.Kernels;

/// <summary>
/// One work item of <see cref="Attention.ScoresToPattern"/>: rows [b·BlockRows, …) of head h. The mask is applied
/// again here (not trusted from the scores) because a hook may have overwritten the scores.
/// </summary>
internal sealed unsafe class AttentionSoftmaxPass : IParallelBody
{
    private const int BlockRows = 32;

    [ThreadStatic] private static AttentionSoftmaxPass? t_instance;

    public float* Scores, Pattern;
    public bool* KeyValid;
    public int Heads, Queries, Keys, FirstQueryPosition, SlidingWindow;
    private int _blocks;

    private bool _busy;

    /// <summary>The calling thread's instance (nothing allocated per call); a fresh one if that is busy with an outer call.</summary>
    public static AttentionSoftmaxPass ForThisThread()
    {
        var pass = t_instance ??= new AttentionSoftmaxPass();
        if (pass._busy) pass = new AttentionSoftmaxPass();
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
        if ((long)Heads * Queries * Keys < 1 << 16 || WorkerPool.MaxThreads == 1)
            for (int i = 0; i < items; i++) Invoke(i);
        else
            WorkerPool.For(items, this);
        Scores = Pattern = null;
        KeyValid = null;
    }

    public void Invoke(int index)
    {
        int h = index / _blocks;
        int i0 = index % _blocks * BlockRows;
        int rows = Math.Min(Queries - i0, BlockRows);
        for (int r = 0; r < rows; r++)
        {
            long offset = ((long)h * Queries + i0 + r) * Keys;
            float* src = Scores + offset;
            float* dst = Pattern + offset;
            VisibleRange(FirstQueryPosition + i0 + r, Keys, SlidingWindow, out int lo, out int hi);
            if (src != dst && hi > lo) new ReadOnlySpan<float>(src + lo, hi - lo).CopyTo(new Span<float>(dst + lo, hi - lo));
            if (KeyValid != null) MaskInvalidKeys(dst, KeyValid, lo, hi);
            SoftmaxRow(dst, lo, hi);
            Fill(dst, lo, 0);
            Fill(dst + hi, Keys - hi, 0);
        }
    }
}
