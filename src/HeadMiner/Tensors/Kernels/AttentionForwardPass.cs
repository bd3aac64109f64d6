using static HeadMiner.Tensors.Kernels.AttentionKernels;

namespace HeadMiner.Tensors.Kernels;

/// <summary>
/// One work item of <see cref="Attention.Forward"/> (and of <see cref="Attention.Scores"/>): the query rows
/// [b·BlockRows, …) of every query head that reads kv head g. Scores for those rows live only in a per-thread buffer
/// of BlockRows × (visible key span) floats, never a T × T matrix; key panels no row of a pair can see are skipped,
/// so the causal upper triangle and everything outside a sliding window cost nothing.
/// </summary>
internal sealed unsafe class AttentionForwardPass : IParallelBody
{
    /// <summary>Query rows per work item: enough rows to amortise packing the keys, few enough for parallel slack.</summary>
    public const int BlockRows = 32;

    /// <summary>Below this many rows sharing the packed keys (query rows × heads per kv head), dot products win.</summary>
    private const int PackedRowThreshold = 8;

    [ThreadStatic] private static AttentionForwardPass? t_instance;

    public float* Q, K, V, Z, ScoresOut, PatternOut;
    public bool* KeyValid;
    public int QRowStride, KvRowStride, ZRowStride;
    public int Queries, Keys, Heads, KvHeads, HeadDim, FirstQueryPosition, SlidingWindow;
    public float Scale;
    public bool ScoresOnly;
    public int Blocks;

    /// <summary>The calling thread's instance: a call fills it, runs it, and clears it, so nothing is allocated per call.</summary>
    public static AttentionForwardPass ForThisThread() => t_instance ??= new AttentionForwardPass();

    public void Run()
    {
        Blocks = (Queries + BlockRows - 1) / BlockRows;
        int items = KvHeads * Blocks;
        long work = (long)Heads * Queries * Math.Min(Keys, SlidingWindow > 0 ? SlidingWindow : Keys) * HeadDim;
        // Small calls (tiny models, decode steps of small heads) cost less than waking a second thread.
        if (work < 1 << 16 || WorkerPool.MaxThreads == 1)
            for (int i = 0; i < items; i++) Invoke(i);
        else
            WorkerPool.For(items, this);
        Q = K = V = Z = ScoresOut = PatternOut = null;
        KeyValid = null;
    }

    public void Invoke(int index)
    {
        int g = index / Blocks;
        int i0 = index % Blocks * BlockRows;
        int rows = Math.Min(Queries - i0, BlockRows);
        int group = Heads / KvHeads;
        VisibleRange(FirstQueryPosition + i0, Keys, SlidingWindow, out int blockLo, out _);
        VisibleRange(FirstQueryPosition + i0 + rows - 1, Keys, SlidingWindow, out _, out int blockHi);
        int n = blockHi - blockLo;
        int stride = RoundUp(Math.Max(n, 1), PanelKeys);
        bool packed = n > 0 && rows * group >= PackedRowThreshold;
        long packedSize = packed ? (long)HeadDim * stride : 0;
        float* kt = AttentionScratch.Get(packedSize + (long)rows * stride);
        float* s = kt + packedSize;
        float* kg = K + g * HeadDim;
        float* vg = V + g * HeadDim;
        if (packed) PackKeysTransposed(kg + (long)blockLo * KvRowStride, KvRowStride, n, HeadDim, kt);

        for (int t = 0; t < group; t++)
        {
            int h = g * group + t;
            float* qh = Q + (long)i0 * QRowStride + h * HeadDim;
            if (packed) PackedScores(qh, kt, rows, i0, blockLo, n, stride, s);
            else
                for (int r = 0; r < rows; r++)
                {
                    VisibleRange(FirstQueryPosition + i0 + r, Keys, SlidingWindow, out int lo, out int hi);
                    DotScores(qh + (long)r * QRowStride, kg, KvRowStride, lo, hi, HeadDim, Scale, s + (long)r * stride - blockLo);
                }

            for (int r = 0; r < rows; r++)
            {
                VisibleRange(FirstQueryPosition + i0 + r, Keys, SlidingWindow, out int lo, out int hi);
                float* row = s + (long)r * stride - blockLo; // indexed by absolute key
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
                int jLo = lo - blockLo, count = Math.Max(hi - lo, 0);
                Accumulate2(s + (long)r * stride + jLo, s + (long)rb * stride + jLo, 1,
                    vg + (long)lo * KvRowStride, KvRowStride, count, HeadDim,
                    Z + (long)(i0 + r) * ZRowStride + h * HeadDim, Z + (long)(i0 + rb) * ZRowStride + h * HeadDim, add: false);
            }
        }
    }

    // Scores of all rows of the block against the packed keys, two rows per pass over a panel, skipping panels
    // that neither row of the pair can see.
    private void PackedScores(float* qh, float* kt, int rows, int i0, int blockLo, int n, int stride, float* s)
    {
        int panels = (n + PanelKeys - 1) / PanelKeys;
        for (int p = 0; p < panels; p++)
        {
            int start = p * PanelKeys;
            int vectors = Math.Min(4, (n - start + Lanes - 1) / Lanes);
            float* panel = kt + (long)p * HeadDim * PanelKeys;
            for (int r = 0; r < rows; r += 2)
            {
                int rb = Math.Min(r + 1, rows - 1);
                VisibleRange(FirstQueryPosition + i0 + r, Keys, SlidingWindow, out int lo, out _);
                VisibleRange(FirstQueryPosition + i0 + rb, Keys, SlidingWindow, out _, out int hi);
                if (start >= hi - blockLo || start + PanelKeys <= lo - blockLo) continue;
                PanelScores2(qh + (long)r * QRowStride, qh + (long)rb * QRowStride, panel, HeadDim, vectors, Scale,
                    s + (long)r * stride + start, s + (long)rb * stride + start);
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
