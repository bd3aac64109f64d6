using static HeadMiner.Tensors.Kernels.AttentionKernels;

namespace HeadMiner.Tensors.Kernels;

/// <summary>
/// The work of <see cref="Attention.Forward"/> (and of <see cref="Attention.Scores"/>). A work item is the query rows
/// [b·BlockRows, …) of every query head that reads kv head g. Scores for those rows live only in a per-thread buffer
/// of BlockRows × (visible key span) floats, never a T × T matrix; key panels that no row of a pair can see are
/// skipped, so the causal upper triangle and everything outside a sliding window cost nothing.
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
    public float Scale;
    public bool ScoresOnly;

    private int _blocks, _panels, _packItemsPerHead;
    private float* _packedKeys; // null: score rows by dot products instead
    private bool _packing;      // Invoke packs keys rather than attending

    /// <summary>The calling thread's instance: a call fills it, runs it, and clears it, so nothing is allocated per call.</summary>
    public static AttentionForwardPass ForThisThread() => t_instance ??= new AttentionForwardPass();

    public void Run()
    {
        int group = Heads / KvHeads;
        _blocks = (Queries + BlockRows - 1) / BlockRows;
        _panels = (Keys + PanelKeys - 1) / PanelKeys;
        // Packing costs about one move per key element; it pays once the rows sharing a key save more than that over
        // dot products (whose horizontal sums cost about 8 cycles per score): rows ≥ headDim / 8.
        bool packed = Keys > 0 && (long)group * Math.Min(Queries, BlockRows) >= Math.Max(4, HeadDim / 8);
        _packedKeys = packed ? AttentionScratch.ForCall((long)KvHeads * _panels * HeadDim * PanelKeys) : null;
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
        Q = K = V = Z = ScoresOut = PatternOut = _packedKeys = null;
        KeyValid = null;
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
        float* s = AttentionScratch.ForItem((long)rows * stride);
        float* kg = K + g * HeadDim;
        float* vg = V + g * HeadDim;

        for (int t = 0; t < group; t++)
        {
            int h = g * group + t;
            float* qh = Q + (long)i0 * QRowStride + h * HeadDim;
            if (_packedKeys != null) PackedScores(qh, _packedKeys + (long)g * _panels * HeadDim * PanelKeys, rows, i0, first, blockHi, stride, s);
            else
                for (int r = 0; r < rows; r++)
                {
                    VisibleRange(FirstQueryPosition + i0 + r, Keys, SlidingWindow, out int lo, out int hi);
                    DotScores(qh + (long)r * QRowStride, kg, KvRowStride, lo, hi, HeadDim, Scale, s + (long)r * stride - first);
                }

            for (int r = 0; r < rows; r++)
            {
                VisibleRange(FirstQueryPosition + i0 + r, Keys, SlidingWindow, out int lo, out int hi);
                float* row = s + (long)r * stride - first; // indexed by absolute key
                if (KeyValid != null) MaskInvalidKeys(row, KeyValid, lo, hi);
                long outRow = ((long)h * Queries + i0 + r) * Keys;
                if (ScoresOut != null) WriteRow(ScoresOut + outRow, row, lo, hi, Keys, float.NegativeInfinity);
                if (ScoresOnly) continue;
                SoftmaxRow(row, lo, hi);
                // Zero the rest of the block's span so that a row pair can share one key loop below.
                Fill(row + blockLo, lo - blockLo, 0);
                Fill(row + hi, blockHi - hi, 0);
                if (PatternOut != null) WriteRow(PatternOut + outRow, row, lo, hi, Keys, 0);
            }
            if (ScoresOnly) continue;

            for (int r = 0; r < rows; r += 2)
            {
                int rb = Math.Min(r + 1, rows - 1);
                VisibleRange(FirstQueryPosition + i0 + r, Keys, SlidingWindow, out int lo, out _);
                VisibleRange(FirstQueryPosition + i0 + rb, Keys, SlidingWindow, out _, out int hi);
                int count = Math.Max(hi - lo, 0);
                Accumulate2(s + (long)r * stride + (lo - first), s + (long)rb * stride + (lo - first), 1,
                    vg + (long)lo * KvRowStride, KvRowStride, count, HeadDim,
                    Z + (long)(i0 + r) * ZRowStride + h * HeadDim, Z + (long)(i0 + rb) * ZRowStride + h * HeadDim, add: false);
            }
        }
    }

    // Scores of all rows of the block against the packed panels covering [first, blockHi), two rows per pass over a
    // panel, skipping panels that neither row of the pair can see. Row r's score for key j lands at s[r·stride + j − first].
    private void PackedScores(float* qh, float* kt, int rows, int i0, int first, int blockHi, int stride, float* s)
    {
        for (int start = first; start < blockHi; start += PanelKeys)
        {
            int vectors = Math.Min(4, (blockHi - start + Lanes - 1) / Lanes);
            float* panel = kt + (long)(start / PanelKeys) * HeadDim * PanelKeys;
            for (int r = 0; r < rows; r += 2)
            {
                int rb = Math.Min(r + 1, rows - 1);
                VisibleRange(FirstQueryPosition + i0 + r, Keys, SlidingWindow, out int lo, out _);
                VisibleRange(FirstQueryPosition + i0 + rb, Keys, SlidingWindow, out _, out int hi);
                if (start >= hi || start + PanelKeys <= lo) continue;
                PanelScores2(qh + (long)r * QRowStride, qh + (long)rb * QRowStride, panel, HeadDim, vectors, Scale,
                    s + (long)r * stride + (start - first), s + (long)rb * stride + (start - first));
            }
        }
    }

    /// <summary>dst[0, keys) = fill outside [lo, hi), row[lo, hi) inside.</summary>
    public static void WriteRow(float* dst, float* row, int lo, int hi, int keys, float fill)
    {
        Fill(dst, lo, fill);
        if (hi > lo) new ReadOnlySpan<float>(row + lo, hi - lo).CopyTo(new Span<float>(dst + lo, hi - lo));
        Fill(dst + hi, keys - hi, fill);
    }
}
