using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace HeadMiner.Tensors.Kernels.GemmParts;

/// <summary>
/// The Goto/BLIS macro loops around one micro-kernel. Two loop orders:
/// <list type="bullet">
/// <item>few rows (all of packed op(A) fits in L2, e.g. 128 tokens × 768): pack A once, then finish one Nr-wide
/// column strip of C over the whole depth before the next, so the strip of C stays in L1/L2 across the kc slices
/// and each kc×Nr slice of B is packed right before its use;</item>
/// <item>general: nc-wide column blocks → kc-deep slices (packed B) → mc-high row blocks (packed A) → Nr-wide panels
/// → Mr-high tiles.</item>
/// </list>
/// The pieces are public so <see cref="GemmParallelJob{TKernel}"/> can spread them over threads.
/// </summary>
internal static unsafe class GemmBlockedDriver<TKernel> where TKernel : IGemmMicroKernel
{
    public static int PaddedRows(int m) => (m + TKernel.Mr - 1) / TKernel.Mr * TKernel.Mr;

    /// <summary>
    /// Whether rows [0, m) of a depth-k product run in the few-rows order: when all of packed A fits L2's share, or,
    /// for a product split over threads, when A has at most <see cref="GemmBlocking.FewRowsMaxRows"/> rows and fits
    /// <see cref="GemmBlocking.FewRowsMaxPackedA"/>. Either order sums every element in the same order.
    /// </summary>
    public static bool UsesFewRowsOrder(int m, int k, bool split)
    {
        long packedA = (long)PaddedRows(m) * k;
        return packedA <= GemmBlocking.FewRowsPackedA || (split && m <= GemmBlocking.FewRowsMaxRows && packedA <= GemmBlocking.FewRowsMaxPackedA);
    }

    public static int DepthBlock(int k) => GemmBlocking.BalancedBlock(k, GemmBlocking.Kc, 1);

    /// <summary>C[i0..i0+m, j0..j0+n] on the calling thread.</summary>
    public static void Run(in GemmOperands op, int i0, int m, int j0, int n, GemmPackBuffers buffers)
    {
        if (UsesFewRowsOrder(m, op.K, split: false))
        {
            PackAllOfA(op, i0, m, buffers.A);
            RunStrip(op, buffers.A, i0, m, j0, n, buffers);
        }
        else
        {
            RunGeneral(op, i0, m, j0, n, buffers);
        }
    }

    // ---- few-rows order ----------------------------------------------------------------------------------------

    /// <summary>Packs rows [i0, i0+m) of op(A), all depth, as consecutive kc slices of PaddedRows(m) × kc.</summary>
    public static void PackAllOfA(in GemmOperands op, int i0, int m, float* dest)
    {
        int k = op.K, kcBlock = DepthBlock(k), mPadded = PaddedRows(m);
        for (int pc = 0; pc < k; pc += kcBlock)
        {
            int kc = Math.Min(kcBlock, k - pc);
            GemmPacking.Pack(op.A + i0 * op.AOuter + pc * op.ADepth, op.AOuter, op.ADepth, m, kc, TKernel.Mr, dest + (nint)mPadded * pc);
        }
    }

    /// <summary>
    /// Columns [j0, j0+n) (j0 a multiple of Nr) of rows [i0, i0+m), from A packed by <see cref="PackAllOfA"/>. While
    /// one panel's slice computes, the next slice's B is requested from memory (<see cref="ShareOfNextB"/>), up to column
    /// <paramref name="prefetchEnd"/> (past j0+n when the caller goes on with the columns that follow).
    /// </summary>
    public static void RunStrip(in GemmOperands op, float* packedA, int i0, int m, int j0, int n, GemmPackBuffers buffers, int prefetchEnd = 0)
    {
        prefetchEnd = Math.Max(prefetchEnd, j0 + n);
        int mr = TKernel.Mr, nr = TKernel.Nr;
        int k = op.K, kcBlock = DepthBlock(k), mPadded = PaddedRows(m), tiles = (m + mr - 1) / mr;
        float* panelB = buffers.B;
        for (int jr = 0; jr < n; jr += nr)
        {
            int cols = Math.Min(nr, n - jr);
            float* cPanel = op.C + i0 * op.Ldc + j0 + jr;
            for (int pc = 0; pc < k; pc += kcBlock)
            {
                int kc = Math.Min(kcBlock, k - pc);
                float beta = pc == 0 ? op.Beta : 1f; // later slices accumulate onto the first
                float* sliceB = PanelSlice(op, j0 + jr, cols, pc, kc, panelB);
                float* sliceA = packedA + (nint)mPadded * pc;
                // The slice this strip packs next: the next depth of this panel, else the next panel's first.
                int nextJ = pc + kc < k ? j0 + jr : j0 + jr + nr, nextPc = pc + kc < k ? pc + kc : 0;
                int nextCols = nextJ < prefetchEnd ? Math.Min(nr, prefetchEnd - nextJ) : 0;
                int nextKc = Math.Min(kcBlock, k - nextPc);
                for (int ir = 0, t = 0; ir < m; ir += mr, t++)
                {
                    GemmPrefetch prefetch = ShareOfNextB(op, nextJ, nextCols, nextPc, nextKc, t, tiles, kc);
                    Tile(kc, sliceA + (nint)ir * kc, sliceB, cPanel + ir * op.Ldc, op.Ldc, op.Alpha, beta, Math.Min(mr, m - ir), cols, buffers.EdgeTile, prefetch);
                }
            }
        }
    }

    // ---- general order -----------------------------------------------------------------------------------------

    /// <summary>Single-threaded general order; each B panel is packed during the first row block, just before its first use.</summary>
    private static void RunGeneral(in GemmOperands op, int i0, int m, int j0, int n, GemmPackBuffers buffers)
    {
        int mr = TKernel.Mr, nr = TKernel.Nr;
        int k = op.K;
        int kcBlock = DepthBlock(k);
        int mcBlock = GemmBlocking.BalancedBlock(m, GemmBlocking.Mc, mr);
        int ncBlock = GemmBlocking.BalancedBlock(n, GemmBlocking.Nc, nr);
        float* packedA = buffers.A, packedB = buffers.B;

        for (int jc = 0; jc < n; jc += ncBlock)
        {
            int nc = Math.Min(ncBlock, n - jc);
            for (int pc = 0; pc < k; pc += kcBlock)
            {
                int kc = Math.Min(kcBlock, k - pc);
                float beta = pc == 0 ? op.Beta : 1f;
                for (int ic = 0; ic < m; ic += mcBlock)
                {
                    int mc = Math.Min(mcBlock, m - ic);
                    GemmPacking.Pack(op.A + (i0 + ic) * op.AOuter + pc * op.ADepth, op.AOuter, op.ADepth, mc, kc, mr, packedA);
                    for (int jr = 0; jr < nc; jr += nr)
                    {
                        int cols = Math.Min(nr, nc - jr);
                        float* panelB = op.PackedB != null ? PrepackedSlice(op, j0 + jc + jr, pc)
                            : packedB + (nint)jr * kc;
                        if (ic == 0 && op.PackedB == null) PackBPanel(op, j0 + jc + jr, cols, pc, kc, panelB);
                        float* cPanel = op.C + (i0 + ic) * op.Ldc + j0 + jc + jr;
                        for (int ir = 0; ir < mc; ir += mr)
                            Tile(kc, packedA + (nint)ir * kc, panelB, cPanel + ir * op.Ldc, op.Ldc, op.Alpha, beta, Math.Min(mr, mc - ir), cols, buffers.EdgeTile);
                    }
                }
            }
        }
    }

    /// <summary>
    /// Share <paramref name="share"/> of <paramref name="shares"/> of the panel of op(B) at columns [j, j+cols), depth
    /// [pc, pc+kc), for one tile's kernel to request into L2 before it is packed (or, packed ahead of time, read). The share is a run
    /// of whole contiguous lines in either layout: some columns when each column's depth run is contiguous (nn.Linear
    /// weights, [out, in]), some depth rows when each depth row's columns are (Conv1D and per-head weights, [in, out];
    /// without this, GPT-2's weights were packed straight from memory and the packing loads stalled ~9% of its
    /// forward). The kernel spreads the requests through its depth loop (<see cref="GemmPrefetch"/>).
    /// </summary>
    private static GemmPrefetch ShareOfNextB(in GemmOperands op, int j, int cols, int pc, int kc, int share, int shares, int tileDepth)
    {
        if (cols <= 0 || !Sse.IsSupported) return GemmPrefetch.None;
        byte* origin;
        nint strideBytes, runBytes;
        int runs;
        if (op.PackedB != null)
        {
            // Packed ahead of time: the slice is kc depth rows of one panel, one after another.
            origin = (byte*)PrepackedSlice(op, j, pc);
            runBytes = strideBytes = TKernel.Nr * sizeof(float);
            runs = kc;
        }
        else
        {
            nint elementBytes = op.BHalf != null ? sizeof(ushort) : sizeof(float);
            origin = op.BHalf != null ? (byte*)(op.BHalf + j * op.BOuter + pc * op.BDepth) : (byte*)(op.B + j * op.BOuter + pc * op.BDepth);
            bool columnsContiguous = op.BDepth == 1;
            runs = columnsContiguous ? cols : kc;
            strideBytes = (columnsContiguous ? op.BOuter : op.BDepth) * elementBytes;
            runBytes = (columnsContiguous ? kc : cols) * elementBytes;
        }
        // The share: `count` runs of `runBytes` contiguous bytes, `strideBytes` apart, spread through the tile.
        int perShare = (runs + shares - 1) / shares;
        int first = share * perShare, count = Math.Min(perShare, runs - first);
        if (count <= 0) return GemmPrefetch.None;
        return new GemmPrefetch(origin + first * strideBytes, runBytes, strideBytes, count, tileDepth);
    }

    /// <summary>
    /// The kc×Nr slice at depth pc of the panel of columns [j, j+cols) (j a multiple of Nr): read in place from
    /// panels packed ahead of time, or packed now into <paramref name="scratch"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float* PanelSlice(in GemmOperands op, int j, int cols, int pc, int kc, float* scratch)
    {
        if (op.PackedB != null) return PrepackedSlice(op, j, pc);
        PackBPanel(op, j, cols, pc, kc, scratch);
        return scratch;
    }

    /// <summary>Depth pc of the prepacked panel starting at column j (a multiple of Nr): panel j/Nr is K·Nr floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float* PrepackedSlice(in GemmOperands op, int j, int pc) => op.PackedB + (nint)j * op.K + (nint)pc * TKernel.Nr;

    /// <summary>Packs columns [j, j+cols) (cols ≤ Nr) of depth slice [pc, pc+kc) of op(B) as one panel (widening a 16-bit B).</summary>
    public static void PackBPanel(in GemmOperands op, int j, int cols, int pc, int kc, float* dest)
    {
        if (op.BHalf != null)
            GemmHalfPacking.PackPanel(op.BHalf + j * op.BOuter + pc * op.BDepth, op.BOuter, op.BDepth, cols, kc, TKernel.Nr, dest, op.BFormat);
        else
            GemmPacking.PackPanel(op.B + j * op.BOuter + pc * op.BDepth, op.BOuter, op.BDepth, cols, kc, TKernel.Nr, dest);
    }

    /// <summary>
    /// Rows [i, i+m) of the general order against an already packed kc×nc block of B: columns [j, j+nc) where
    /// <paramref name="packedB"/> holds the panels starting at column j, <paramref name="panelStride"/> floats apart
    /// (kc·Nr when just packed, K·Nr when packed ahead of time). Packs its own A, at most mc rows at a time.
    /// </summary>
    public static void RunRows(in GemmOperands op, float* packedB, nint panelStride, int j, int nc, int pc, int kc, float beta,
        int i, int m, GemmPackBuffers buffers)
    {
        int mr = TKernel.Mr, nr = TKernel.Nr;
        float* packedA = buffers.A;
        int mcBlock = GemmBlocking.BalancedBlock(m, GemmBlocking.Mc, mr);
        for (int ic = i; ic < i + m; ic += mcBlock)
        {
            int mc = Math.Min(mcBlock, i + m - ic);
            GemmPacking.Pack(op.A + ic * op.AOuter + pc * op.ADepth, op.AOuter, op.ADepth, mc, kc, mr, packedA);
            for (int jr = 0; jr < nc; jr += nr)
            {
                int cols = Math.Min(nr, nc - jr);
                float* cPanel = op.C + ic * op.Ldc + j + jr;
                for (int ir = 0; ir < mc; ir += mr)
                    Tile(kc, packedA + (nint)ir * kc, packedB + jr / nr * panelStride, cPanel + ir * op.Ldc, op.Ldc, op.Alpha, beta, Math.Min(mr, mc - ir), cols, buffers.EdgeTile);
            }
        }
    }

    /// <summary>Packs one Mr-row panel (rows [i, i+Mr) clipped to m) of depth slice pc of op(A), into the layout of <see cref="PackAllOfA"/>.</summary>
    public static void PackAPanel(in GemmOperands op, int i0, int m, int i, int pc, int kc, float* packedAllOfA)
    {
        float* dest = packedAllOfA + (nint)PaddedRows(m) * pc + (nint)(i - i0) * kc;
        GemmPacking.PackPanel(op.A + i * op.AOuter + pc * op.ADepth, op.AOuter, op.ADepth, Math.Min(TKernel.Mr, i0 + m - i), kc, TKernel.Mr, dest);
    }

    // ---- one tile ----------------------------------------------------------------------------------------------

    /// <summary>One Mr×Nr tile; a tile cut by the right edge of C is computed aside and merged.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Tile(int kc, float* a, float* b, float* c, nint ldc, float alpha, float beta, int rows, int cols, float* edge,
        GemmPrefetch prefetch = default)
    {
        if (cols == TKernel.Nr)
        {
            TKernel.Run(kc, a, b, c, ldc, alpha, beta, rows, prefetch);
        }
        else
        {
            TKernel.Run(kc, a, b, edge, TKernel.Nr, 1f, 0f, rows, prefetch);
            MergeEdgeTile(edge, TKernel.Nr, c, ldc, rows, cols, alpha, beta);
        }
    }

    /// <summary>The kernel's formula, C = fma(acc, alpha, beta·C), on the valid part of a tile computed aside.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void MergeEdgeTile(float* tile, int tileStride, float* c, nint ldc, int rows, int cols, float alpha, float beta)
    {
        for (int r = 0; r < rows; r++)
        {
            float* t = tile + r * tileStride;
            float* cr = c + r * ldc;
            if (beta == 0)
                for (int j = 0; j < cols; j++) cr[j] = t[j] * alpha;
            else
                for (int j = 0; j < cols; j++) cr[j] = MathF.FusedMultiplyAdd(t[j], alpha, beta * cr[j]);
        }
    }
}
