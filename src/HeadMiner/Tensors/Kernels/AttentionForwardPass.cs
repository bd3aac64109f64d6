using static HeadMiner.Tensors.Kernels.AttentionKernels;

namespace HeadMiner.Tensors.Kernels;

/// <summary>
/// The work of <see cref="Attention.Forward"/> (and of <see cref="Attention.Scores"/>). A work item is the query rows
/// [b·BlockRows, …) of every query head that reads kv head g. Scores for those rows live only in a per-thread buffer
/// of BlockRows × (visible key span) floats, never a T × T matrix; key panels that no row of a four-row tile can see
/// are skipped, so the causal upper triangle and everything outside a sliding window cost nothing.
/// When enough rows share each key, the keys are first packed transposed, once per call, by a parallel pre-pass.
/// </summary>
internal sealed unsafe class AttentionForwardPass : IParallelBody
{
    /// <summary>Query rows per work item: enough rows to reuse each value row, few enough for parallel slack.</summary>
    public const int BlockRows = 32;

    /// <summary>Panels per packing work item.</summary>
    private const int PackPanels = 8;

    [ThreadStatic] private static AttentionForwardPass? t_instance;

    public float* Q, K, V, Z, ScoresOut, PatternOut;
    public bool* KeyValid;
    public int QRowStride, KvRowStride, ZRowStride;
    public int Queries, Keys, Heads, KvHeads, HeadDim, FirstQueryPosition, SlidingWindow;

    /// <summary>The query count the score path is chosen by (<see cref="AttentionMask.PathQueries"/>; Queries when unset).</summary>
    public int PathQueries;
    public float Scale;

    /// <summary>Attention-logit soft cap (0 = none): visible scores become cap·tanh(s / cap) before masking and softmax.</summary>
    public float SoftCap;
    public bool ScoresOnly;

    private int _blocks, _panels, _packItemsPerHead;
    private float* _packedKeys;      // null: score rows by dot products instead
    private float[]? _packedStorage; // the call's packed keys, read by work items on every thread
    private bool _packing;           // Invoke packs keys rather than attending
    private bool _busy;

    /// <summary>
    /// The calling thread's instance, so that nothing is allocated per call; a fresh one if that is busy (a call made
    /// from work this thread runs while it waits inside another call), since the instance holds the call's state.
    /// </summary>
    public static AttentionForwardPass ForThisThread()
    {
        var pass = t_instance ??= new AttentionForwardPass();
        if (pass._busy) pass = new AttentionForwardPass();
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
            Q = K = V = Z = ScoresOut = PatternOut = _packedKeys = null;
            KeyValid = null;
            PathQueries = 0;
            _packing = false;
            _busy = false;
        }
    }

    private void RunCall()
    {
        int group = Heads / KvHeads;
        _blocks = (Queries + BlockRows - 1) / BlockRows;
        _panels = (Keys + PanelKeys - 1) / PanelKeys;
        // Packing costs a fraction of a cycle per key element, the horizontal sums of dot products several cycles per
        // score: packing pays from about headDim / 8 rows sharing each key (measured: 8 rows at headDim 64, 16 at 128).
        bool packed = Keys > 0 && (long)group * Math.Min(PathQueries > 0 ? PathQueries : Queries, BlockRows) >= Math.Max(4, HeadDim / 8);
        _packedKeys = packed ? AttentionScratch.Get(ref _packedStorage, (long)KvHeads * _panels * HeadDim * PanelKeys) : null;
        long work = (long)Heads * Queries * Math.Min(Keys, SlidingWindow > 0 ? SlidingWindow : Keys) * HeadDim;
        // Small calls (tiny models, decode steps of small heads) cost less than waking a second thread.
        bool inline = work < 1 << 16 || WorkerPool.MaxThreads == 1;
        if (packed)
        {
            _packing = true;
            _packItemsPerHead = (_panels + PackPanels - 1) / PackPanels;
            RunItems(KvHeads * _packItemsPerHead, inline);
            _packing = false;
        }
        RunItems(KvHeads * _blocks, inline);
    }

    private void RunItems(int items, bool inline)
    {
        if (inline)
            for (int i = 0; i < items; i++) Invoke(i);
        else
            WorkerPool.For(items, this);
    }

    public void Invoke(int index)
    {
        if (_packing) Pack(index);
        else Attend(index);
    }

    // Panels [c·PackPanels, …) of kv head g, laid out [g][panel][d][64 keys].
    private void Pack(int index)
    {
        int g = index / _packItemsPerHead;
        int firstPanel = index % _packItemsPerHead * PackPanels;
        int firstKey = firstPanel * PanelKeys;
        int count = Math.Min(Keys - firstKey, PackPanels * PanelKeys);
        PackKeysTransposed(K + (long)firstKey * KvRowStride + g * HeadDim, KvRowStride, count, HeadDim,
            _packedKeys + ((long)g * _panels + firstPanel) * HeadDim * PanelKeys);
    }

    private void Attend(int index)
    {
        int g = index / _blocks;
        int i0 = index % _blocks * BlockRows;
        int rows = Math.Min(Queries - i0, BlockRows);
        int group = Heads / KvHeads;
        VisibleRange(FirstQueryPosition + i0, Keys, SlidingWindow, out int blockLo, out _);
        VisibleRange(FirstQueryPosition + i0 + rows - 1, Keys, SlidingWindow, out _, out int blockHi);
        // Score rows start at `first`: the block's first visible key, rounded down to a panel when panels fill them.
        int first = _packedKeys != null ? blockLo & ~(PanelKeys - 1) : blockLo;
        int stride = RoundUp(Math.Max(blockHi - first, 1), PanelKeys);
        var block = new Block(g, i0, rows, blockLo, blockHi, first, stride);

        if (_packedKeys != null)
        {
            // Many rows: one head at a time keeps the score buffer small; the packed keys are shared anyway.
            float* s = AttentionScratch.ForItem((long)rows * stride);
            float* kt = _packedKeys + (long)g * _panels * HeadDim * PanelKeys;
            for (int t = 0; t < group; t++)
            {
                PackedRowScores(Q + (long)i0 * QRowStride + (g * group + t) * HeadDim, QRowStride, rows, FirstQueryPosition + i0,
                    Keys, SlidingWindow, kt, HeadDim, first, blockHi, Scale, s, stride);
                Finish(block, s, t, 1);
            }
        }
        else
        {
            // Few rows (a decode step): all heads of the group together, so that the rows of a tile, which share every
            // key and value row they read, can be heads of the group at the same query.
            int all = group * rows;
            float* s = AttentionScratch.ForItem((long)all * stride);
            float* kg = K + g * HeadDim;
            int f4 = all & ~3;
            for (int f = 0; f < f4; f += 4)
            {
                int lo = Math.Min(Math.Min(RowLo(block, f), RowLo(block, f + 1)), Math.Min(RowLo(block, f + 2), RowLo(block, f + 3)));
                int hi = Math.Max(Math.Max(RowHi(block, f), RowHi(block, f + 1)), Math.Max(RowHi(block, f + 2), RowHi(block, f + 3)));
                float* row = s + (long)f * stride - first;
                DotScores4(QueryRow(block, f), QueryRow(block, f + 1), QueryRow(block, f + 2), QueryRow(block, f + 3),
                    kg, KvRowStride, lo, hi, HeadDim, Scale, row, row + stride, row + 2L * stride, row + 3L * stride);
            }
            for (int f = f4; f < all; f += 2)
            {
                int fb = Math.Min(f + 1, all - 1);
                int lo = Math.Min(RowLo(block, f), RowLo(block, fb)), hi = Math.Max(RowHi(block, f), RowHi(block, fb));
                DotScores2(QueryRow(block, f), QueryRow(block, fb), kg, KvRowStride, lo, hi, HeadDim, Scale,
                    s + (long)f * stride - first, s + (long)fb * stride - first);
            }
            Finish(block, s, 0, group);
        }
    }

    private readonly record struct Block(int G, int I0, int Rows, int Lo, int Hi, int First, int Stride);

    // Flattened row f of a block's score buffer: head offset f / rows within the group, query row f % rows.
    private float* QueryRow(in Block b, int f)
    {
        int group = Heads / KvHeads;
        return Q + (long)(b.I0 + f % b.Rows) * QRowStride + (b.G * group + f / b.Rows) * HeadDim;
    }

    private void RowRange(in Block b, int f, out int lo, out int hi) =>
        VisibleRange(FirstQueryPosition + b.I0 + f % b.Rows, Keys, SlidingWindow, out lo, out hi);

    private int RowLo(in Block b, int f)
    {
        RowRange(b, f, out int lo, out _);
        return lo;
    }

    private int RowHi(in Block b, int f)
    {
        RowRange(b, f, out _, out int hi);
        return hi;
    }

    // Scores → (scores out) → softmax → (pattern out) → z for heads [firstHead, firstHead + heads) of the group,
    // whose score rows are s[f · stride + (key − first)], f = (head − firstHead) · rows + row.
    private void Finish(in Block b, float* s, int firstHead, int heads)
    {
        int group = Heads / KvHeads;
        int all = heads * b.Rows;
        for (int f = 0; f < all; f++)
        {
            int h = b.G * group + firstHead + f / b.Rows, i = b.I0 + f % b.Rows;
            RowRange(b, f, out int lo, out int hi);
            float* row = s + (long)f * b.Stride - b.First; // indexed by absolute key
            if (SoftCap > 0 && hi > lo) Activations.SoftCap(new ReadOnlySpan<float>(row + lo, hi - lo), new Span<float>(row + lo, hi - lo), SoftCap);
            if (KeyValid != null) MaskInvalidKeys(row, KeyValid, lo, hi);
            long outRow = ((long)h * Queries + i) * Keys;
            if (ScoresOut != null) WriteRow(ScoresOut + outRow, row, lo, hi, Keys, float.NegativeInfinity);
            if (ScoresOnly) continue;
            SoftmaxRow(row, lo, hi);
            // Zero the rest of the block's span so that a row pair can share one key loop below.
            Fill(row + b.Lo, lo - b.Lo, 0);
            Fill(row + hi, b.Hi - hi, 0);
            if (PatternOut != null) WriteRow(PatternOut + outRow, row, lo, hi, Keys, 0);
        }
        if (ScoresOnly) return;

        float* vg = V + b.G * HeadDim;
        int f4 = all >= 4 ? all & ~3 : 0; // four rows at a time where there are four, then pairs
        for (int f = 0; f < f4; f += 4)
        {
            int lo = Math.Min(Math.Min(RowLo(b, f), RowLo(b, f + 1)), Math.Min(RowLo(b, f + 2), RowLo(b, f + 3)));
            int hi = Math.Max(Math.Max(RowHi(b, f), RowHi(b, f + 1)), Math.Max(RowHi(b, f + 2), RowHi(b, f + 3)));
            int count = Math.Max(hi - lo, 0);
            float* c = s + (long)f * b.Stride + (lo - b.First);
            Accumulate4(c, c + b.Stride, c + 2L * b.Stride, c + 3L * b.Stride, 1, vg + (long)lo * KvRowStride, KvRowStride, count, HeadDim,
                ZRow(b, firstHead, f), ZRow(b, firstHead, f + 1), ZRow(b, firstHead, f + 2), ZRow(b, firstHead, f + 3), add: false);
        }
        for (int f = f4; f < all; f += 2)
        {
            int fb = Math.Min(f + 1, all - 1);
            int lo = Math.Min(RowLo(b, f), RowLo(b, fb)), hi = Math.Max(RowHi(b, f), RowHi(b, fb));
            int count = Math.Max(hi - lo, 0);
            Accumulate2(s + (long)f * b.Stride + (lo - b.First), s + (long)fb * b.Stride + (lo - b.First), 1,
                vg + (long)lo * KvRowStride, KvRowStride, count, HeadDim, ZRow(b, firstHead, f), ZRow(b, firstHead, fb), add: false);
        }
    }

    private float* ZRow(in Block b, int firstHead, int f) =>
        Z + (long)(b.I0 + f % b.Rows) * ZRowStride + (b.G * (Heads / KvHeads) + firstHead + f / b.Rows) * HeadDim;

    /// <summary>dst[0, keys) = fill outside [lo, hi), row[lo, hi) inside.</summary>
    public static void WriteRow(float* dst, float* row, int lo, int hi, int keys, float fill)
    {
        Fill(dst, lo, fill);
        if (hi > lo) new ReadOnlySpan<float>(row + lo, hi - lo).CopyTo(new Span<float>(dst + lo, hi - lo));
        Fill(dst + hi, keys - hi, fill);
    }
}
