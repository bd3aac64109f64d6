namespace HeadMiner.Tensors.Kernels.GemmParts;

/// <summary>
/// Spreads one GEMM call over the <see cref="WorkerPool"/> threads, without duplicating any packing:
/// <list type="bullet">
/// <item>few rows: the threads pack op(A) once, panel by panel, into the caller's buffer; then each thread works
/// through its own run of column strips from the left, packing their slices of B, and while one strip computes the
/// next one's B is fetched from memory. A thread done with its run takes strips from the right end of another's, so a
/// core busy with something else does not hold the call back;</item>
/// <item>general: per (nc block, kc slice), the threads first pack the shared kc×nc block of B panel by panel (unless
/// B was packed ahead of time, <see cref="PackedGemmB"/>), then
/// run (row part × column group) items that pack their own A blocks. The end of each parallel phase is the barrier:
/// the next phase never starts before every item of the previous one has finished;</item>
/// <item>batches: whole items per thread.</item>
/// </list>
/// Every element is computed by the same tile with the same depth order however the work is split, so results do
/// not depend on the number of threads. One cached instance per calling thread and kernel: nothing is allocated.
/// </summary>
internal sealed unsafe class GemmParallelJob<TKernel> : IParallelBody where TKernel : IGemmMicroKernel
{
    [ThreadStatic] private static GemmParallelJob<TKernel>? t_cached;

    private enum Phase { PackA, Strips, PackB, Blocks, Batch }

    private Phase _phase;
    private GemmOperands _op;
    private int _m, _n;

    // Few rows: all of A packed in the caller's buffer; panels per strip (or per column group in the general order).
    private float* _packedA;
    private int _panelsPerItem;

    // Few rows: each thread's run of strips, [front, back) packed as back << 32 | front, taken from either end.
    private long[] _runs = [];
    private int _runCount;

    // General order: the current block and slice, and the shared packed B block.
    private float* _packedB;
    private nint _panelStride;
    private int _jc, _nc, _pc, _kc, _kcBlock, _tiles, _rowParts;
    private float _beta;

    // Batch.
    private long _strideA, _strideB, _strideC;

    private static GemmParallelJob<TKernel> Cached => t_cached ??= new GemmParallelJob<TKernel>();

    /// <summary>C = alpha·op(A)·op(B) + beta·C for the whole m×n product on up to <paramref name="threads"/> threads.</summary>
    public static void Run(in GemmOperands op, int m, int n, int threads)
    {
        GemmPackBuffers mine = GemmPackBuffers.ForCurrentThread;
        if (threads <= 1)
        {
            GemmBlockedDriver<TKernel>.Run(op, 0, m, 0, n, mine);
            return;
        }

        int nr = TKernel.Nr;
        GemmParallelJob<TKernel> job = Cached;
        job._op = op;
        job._m = m;
        job._n = n;
        int k = op.K, kcBlock = GemmBlockedDriver<TKernel>.DepthBlock(k);
        int slices = (k + kcBlock - 1) / kcBlock;
        int tiles = (m + TKernel.Mr - 1) / TKernel.Mr;
        job._kcBlock = kcBlock;
        if (GemmBlockedDriver<TKernel>.UsesFewRowsOrder(m, op.K, split: true))
        {
            job._packedA = mine.A;
            job._phase = Phase.PackA;
            WorkerPool.For(tiles * slices, job);

            int panels = (n + nr - 1) / nr;
            int strips = Math.Min(panels, threads * StripsPerThread);
            job._phase = Phase.Strips;
            job._panelsPerItem = (panels + strips - 1) / strips;
            strips = (panels + job._panelsPerItem - 1) / job._panelsPerItem;
            int runs = Math.Min(threads, strips);
            if (job._runs.Length < runs) job._runs = new long[runs];
            for (int r = 0; r < runs; r++) job._runs[r] = StripRun(strips * r / runs, strips * (r + 1) / runs);
            job._runCount = runs;
            WorkerPool.For(runs, job);
            return;
        }

        int ncBlock = GemmBlocking.BalancedBlock(n, GemmBlocking.Nc, nr);
        // Row parts of near-equal tile counts, a few per thread (dynamic claiming evens out a busy core), each
        // worked through in mc-high blocks.
        job._tiles = tiles;
        job._rowParts = Math.Min(tiles, threads * RowPartsPerThread);
        bool prepacked = op.PackedB != null;
        job._panelStride = prepacked ? (nint)k * nr : 0;
        for (int jc = 0; jc < n; jc += ncBlock)
        {
            int nc = Math.Min(ncBlock, n - jc);
            int panels = (nc + nr - 1) / nr;
            // Too few row parts to go round: cut the columns too (each item then packs its A block itself).
            int columnGroups = Math.Min(panels, Math.Max(1, (2 * threads + job._rowParts - 1) / job._rowParts));
            job._panelsPerItem = (panels + columnGroups - 1) / columnGroups;
            columnGroups = (panels + job._panelsPerItem - 1) / job._panelsPerItem;
            job._jc = jc;
            job._nc = nc;
            for (int pc = 0; pc < k; pc += kcBlock)
            {
                job._pc = pc;
                job._kc = Math.Min(kcBlock, k - pc);
                job._beta = pc == 0 ? op.Beta : 1f;
                if (prepacked)
                {
                    job._packedB = GemmBlockedDriver<TKernel>.PrepackedSlice(op, jc, pc);
                }
                else
                {
                    job._packedB = mine.B;
                    job._panelStride = (nint)job._kc * nr;
                    job._phase = Phase.PackB;
                    WorkerPool.For(panels, job);
                }
                job._phase = Phase.Blocks;
                WorkerPool.For(job._rowParts * columnGroups, job);
            }
        }
    }

    /// <summary>Each of <paramref name="batch"/> items single-threaded, items spread over the threads.</summary>
    public static void RunBatch(in GemmOperands op, int m, int n, long strideA, long strideB, long strideC, int batch)
    {
        GemmParallelJob<TKernel> job = Cached;
        job._phase = Phase.Batch;
        job._op = op;
        job._m = m;
        job._n = n;
        job._strideA = strideA;
        job._strideB = strideB;
        job._strideC = strideC;
        WorkerPool.For(batch, job);
    }

    // Spare work lets the other threads take over a busy core's share: a few strips, or row parts, per thread.
    private const int StripsPerThread = 8;
    private const int RowPartsPerThread = 4;

    private static long StripRun(int front, int back) => (long)back << 32 | (uint)front;

    /// <summary>Takes the first strip left in run <paramref name="r"/> (its owner's order), or the last (a helper's).</summary>
    private bool TryTake(int r, bool fromFront, out int strip)
    {
        while (true)
        {
            long state = Volatile.Read(ref _runs[r]);
            int front = (int)state, back = (int)(state >> 32);
            if (front >= back)
            {
                strip = -1;
                return false;
            }
            strip = fromFront ? front : back - 1;
            long next = fromFront ? StripRun(front + 1, back) : StripRun(front, back - 1);
            if (Interlocked.CompareExchange(ref _runs[r], next, state) == state) return true;
        }
    }

    /// <summary>
    /// Run <paramref name="own"/> from the left, fetching ahead across its strips, then whatever is left of the others
    /// from the right.
    /// </summary>
    private void RunStrips(int own)
    {
        int nr = TKernel.Nr, width = _panelsPerItem * nr;
        GemmPackBuffers buffers = GemmPackBuffers.ForCurrentThread;
        int ownEnd = Math.Min(_n, (int)(Volatile.Read(ref _runs[own]) >> 32) * width);
        while (TryTake(own, fromFront: true, out int strip))
        {
            int j0 = strip * width;
            GemmBlockedDriver<TKernel>.RunStrip(_op, _packedA, 0, _m, j0, Math.Min(width, _n - j0), buffers, ownEnd);
        }
        for (int step = 1; step < _runCount; step++)
        {
            int other = (own + step) % _runCount;
            while (TryTake(other, fromFront: false, out int strip))
            {
                int j0 = strip * width;
                GemmBlockedDriver<TKernel>.RunStrip(_op, _packedA, 0, _m, j0, Math.Min(width, _n - j0), buffers);
            }
        }
    }

    public void Invoke(int index)
    {
        int nr = TKernel.Nr;
        switch (_phase)
        {
            case Phase.Strips:
                RunStrips(index);
                break;
            case Phase.PackB:
                {
                    int jr = index * nr;
                    GemmBlockedDriver<TKernel>.PackBPanel(_op, _jc + jr, Math.Min(nr, _nc - jr), _pc, _kc, _packedB + (nint)jr * _kc);
                    break;
                }
            case Phase.Blocks:
                {
                    int part = index % _rowParts, group = index / _rowParts;
                    int i = (int)((long)_tiles * part / _rowParts) * TKernel.Mr;
                    int iEnd = Math.Min(_m, (int)((long)_tiles * (part + 1) / _rowParts) * TKernel.Mr);
                    int jr = group * _panelsPerItem * nr;
                    int cols = Math.Min(_panelsPerItem * nr, _nc - jr);
                    GemmBlockedDriver<TKernel>.RunRows(_op, _packedB + jr / nr * _panelStride, _panelStride, _jc + jr, cols, _pc, _kc, _beta,
                        i, iEnd - i, GemmPackBuffers.ForCurrentThread);
                    break;
                }
            case Phase.PackA:
                {
                    int tiles = (_m + TKernel.Mr - 1) / TKernel.Mr;
                    int pc = index / tiles * _kcBlock;
                    GemmBlockedDriver<TKernel>.PackAPanel(_op, 0, _m, index % tiles * TKernel.Mr, pc, Math.Min(_kcBlock, _op.K - pc), _packedA);
                    break;
                }
            default:
                {
                    GemmOperands item = _op.Offset(index * _strideA, index * _strideB, index * _strideC);
                    GemmBlockedDriver<TKernel>.Run(item, 0, _m, 0, _n, GemmPackBuffers.ForCurrentThread);
                    break;
                }
        }
    }
}
