namespace HeadMiner.Tensors.Kernels.GemmParts;

/// <summary>
/// One GEMM call's work as a <see cref="IParallelBody"/>: either chunks of one product (whole column or row strips,
/// each packed independently by the thread that runs it) or whole items of a batch. One cached instance per calling
/// thread, so a parallel call allocates nothing.
/// </summary>
internal sealed class GemmParallelJob : IParallelBody
{
    [ThreadStatic] private static GemmParallelJob? t_cached;

    private GemmOperands _operands;
    private GemmKernelPath _path;
    private int _m, _n;
    private bool _splitColumns;
    private int _chunk;
    private long _strideA, _strideB, _strideC;
    private bool _overBatch;

    /// <summary>Runs the product in <paramref name="chunks"/> strips of <paramref name="chunk"/> columns (or rows).</summary>
    public static void RunChunked(in GemmOperands op, GemmKernelPath path, int m, int n, bool splitColumns, int chunk, int chunks)
    {
        GemmParallelJob job = t_cached ??= new GemmParallelJob();
        job._operands = op;
        job._path = path;
        job._m = m;
        job._n = n;
        job._splitColumns = splitColumns;
        job._chunk = chunk;
        job._overBatch = false;
        WorkerPool.For(chunks, job);
    }

    /// <summary>Runs each of <paramref name="batch"/> items single-threaded, items spread over the threads.</summary>
    public static void RunBatch(in GemmOperands op, GemmKernelPath path, int m, int n, long strideA, long strideB, long strideC, int batch)
    {
        GemmParallelJob job = t_cached ??= new GemmParallelJob();
        job._operands = op;
        job._path = path;
        job._m = m;
        job._n = n;
        job._strideA = strideA;
        job._strideB = strideB;
        job._strideC = strideC;
        job._overBatch = true;
        WorkerPool.For(batch, job);
    }

    public void Invoke(int index)
    {
        if (_overBatch)
        {
            GemmOperands item = _operands.Offset(index * _strideA, index * _strideB, index * _strideC);
            RunBlock(item, _path, 0, _m, 0, _n);
        }
        else if (_splitColumns)
        {
            int j0 = index * _chunk;
            RunBlock(_operands, _path, 0, _m, j0, Math.Min(_chunk, _n - j0));
        }
        else
        {
            int i0 = index * _chunk;
            RunBlock(_operands, _path, i0, Math.Min(_chunk, _m - i0), 0, _n);
        }
    }

    /// <summary>C[i0..i0+m, j0..j0+n] on the calling thread with the chosen kernel.</summary>
    public static void RunBlock(in GemmOperands op, GemmKernelPath path, int i0, int m, int j0, int n)
    {
        if (m <= 0 || n <= 0) return;
        switch (path)
        {
            case GemmKernelPath.Avx512:
                GemmBlockedDriver<MicroKernel12x32Avx512>.Run(op, i0, m, j0, n, GemmPackBuffers.ForCurrentThread);
                break;
            case GemmKernelPath.Avx2:
                GemmBlockedDriver<MicroKernel6x16Avx2>.Run(op, i0, m, j0, n, GemmPackBuffers.ForCurrentThread);
                break;
            default:
                GemmScalarDriver.Run(op, i0, m, j0, n);
                break;
        }
    }
}
