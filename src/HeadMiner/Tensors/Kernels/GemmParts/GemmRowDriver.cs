using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace HeadMiner.Tensors.Kernels.GemmParts;

/// <summary>
/// One row of op(A) times op(B) (a GEMV: decoding one token with a KV cache, m = 1) on AVX-512. The blocked driver
/// would run the 12×32 micro-kernel with 11 of its 12 rows empty, so a product would be bound by wasted FMAs; here
/// each kc×32 panel of B is packed (widened, if 16-bit) into L1/L2 (128 KiB at kc = 1024) and consumed by 2 FMAs per depth step, four panels at
/// a time so eight independent accumulators hide the FMA latency. The pass is then bound by reading B once.
/// <para>
/// Every output element is computed exactly as the blocked driver computes it: the same kc slices
/// (<see cref="GemmBlockedDriver{TKernel}.DepthBlock"/>), within a slice one FMA chain in depth order starting from
/// zero, and the slice folded into C by the micro-kernel's formula (fma(acc, alpha, beta·C), beta = 1 after the first
/// slice). A row's result therefore does not depend on whether it ran alone or inside a batch, nor on the thread count.
/// </para>
/// </summary>
internal sealed unsafe class GemmRowDriver : IParallelBody
{
    private const int Nr = 32;
    private const int PanelsPerGroup = 4;
    private const int GroupWidth = Nr * PanelsPerGroup;

    // Below this many weights a second thread costs more than it saves (about 0.25 MiB of BF16 per thread).
    private const long MinWeightsPerThread = 1L << 17;

    [ThreadStatic] private static GemmRowDriver? t_cached;

    private GemmOperands _op;
    private int _n, _groupsPerItem;

    /// <summary>C[0, 0..n) for a one-row product, on up to <see cref="WorkerPool.MaxThreads"/> threads.</summary>
    public static void Run(in GemmOperands op, int n)
    {
        int groups = (n + GroupWidth - 1) / GroupWidth;
        long weights = (long)n * op.K;
        int threads = WorkerPool.InsideParallelRegion ? 1 : (int)Math.Min(WorkerPool.MaxThreads, Math.Max(1, weights / MinWeightsPerThread));
        if (threads <= 1 || groups == 1)
        {
            Columns(op, 0, n, GemmPackBuffers.ForCurrentThread.B);
            return;
        }
        var job = t_cached ??= new GemmRowDriver();
        job._op = op;
        job._n = n;
        // A few items per thread, claimed dynamically, so a core busy with something else does not hold the call back.
        int items = Math.Min(groups, threads * 4);
        job._groupsPerItem = (groups + items - 1) / items;
        WorkerPool.For((groups + job._groupsPerItem - 1) / job._groupsPerItem, job);
    }

    public void Invoke(int index)
    {
        int j0 = index * _groupsPerItem * GroupWidth;
        Columns(_op, j0, Math.Min(_groupsPerItem * GroupWidth, _n - j0), GemmPackBuffers.ForCurrentThread.B);
    }

    /// <summary>Columns [j0, j0 + cols) of the row, group by group.</summary>
    private static void Columns(in GemmOperands op, int j0, int cols, float* packed)
    {
        int k = op.K, kcBlock = GemmBlockedDriver<MicroKernel12x32Avx512>.DepthBlock(k);
        for (int jg = j0; jg < j0 + cols; jg += GroupWidth)
        {
            int width = Math.Min(GroupWidth, j0 + cols - jg);
            int panels = (width + Nr - 1) / Nr;
            for (int pc = 0; pc < k; pc += kcBlock)
            {
                int kc = Math.Min(kcBlock, k - pc);
                float beta = pc == 0 ? op.Beta : 1f;
                for (int q = 0; q < panels; q++)
                    GemmBlockedDriver<MicroKernel12x32Avx512>.PackBPanel(op, jg + q * Nr, Math.Min(Nr, width - q * Nr), pc, kc, packed + (nint)q * Nr * kc);
                float* a = op.A + pc * op.ADepth;
                float* c = op.C + jg;
                if (panels == PanelsPerGroup) FourPanels(kc, a, op.ADepth, packed, c, op.Alpha, beta, width);
                else
                    for (int q = 0; q < panels; q++)
                        OnePanel(kc, a, op.ADepth, packed + (nint)q * Nr * kc, c + q * Nr, op.Alpha, beta, Math.Min(Nr, width - q * Nr));
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void FourPanels(int kc, float* a, nint aStep, float* b, float* c, float alpha, float beta, int width)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default;
        Vector512<float> c20 = default, c21 = default, c30 = default, c31 = default;
        nint panel = (nint)Nr * kc;
        float* b0 = b, b1 = b + panel, b2 = b + 2 * panel, b3 = b + 3 * panel;
        for (int p = 0; p < kc; p++)
        {
            Vector512<float> ai = Vector512.Create(a[p * aStep]);
            nint o = (nint)p * Nr;
            c00 = Vector512.FusedMultiplyAdd(ai, Vector512.Load(b0 + o), c00);
            c01 = Vector512.FusedMultiplyAdd(ai, Vector512.Load(b0 + o + 16), c01);
            c10 = Vector512.FusedMultiplyAdd(ai, Vector512.Load(b1 + o), c10);
            c11 = Vector512.FusedMultiplyAdd(ai, Vector512.Load(b1 + o + 16), c11);
            c20 = Vector512.FusedMultiplyAdd(ai, Vector512.Load(b2 + o), c20);
            c21 = Vector512.FusedMultiplyAdd(ai, Vector512.Load(b2 + o + 16), c21);
            c30 = Vector512.FusedMultiplyAdd(ai, Vector512.Load(b3 + o), c30);
            c31 = Vector512.FusedMultiplyAdd(ai, Vector512.Load(b3 + o + 16), c31);
        }
        Store(c, c00, c01, alpha, beta, Math.Min(Nr, width));
        Store(c + Nr, c10, c11, alpha, beta, Math.Min(Nr, width - Nr));
        Store(c + 2 * Nr, c20, c21, alpha, beta, Math.Min(Nr, width - 2 * Nr));
        Store(c + 3 * Nr, c30, c31, alpha, beta, width - 3 * Nr);
    }

    private static void OnePanel(int kc, float* a, nint aStep, float* b, float* c, float alpha, float beta, int cols)
    {
        Vector512<float> c0 = default, c1 = default;
        for (int p = 0; p < kc; p++)
        {
            Vector512<float> ai = Vector512.Create(a[p * aStep]);
            c0 = Vector512.FusedMultiplyAdd(ai, Vector512.Load(b + (nint)p * Nr), c0);
            c1 = Vector512.FusedMultiplyAdd(ai, Vector512.Load(b + (nint)p * Nr + 16), c1);
        }
        Store(c, c0, c1, alpha, beta, cols);
    }

    /// <summary>The micro-kernel's formula on the first <paramref name="cols"/> of 32 outputs: alpha·acc, or fma(acc, alpha, beta·C).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(float* c, Vector512<float> lo, Vector512<float> hi, float alpha, float beta, int cols)
    {
        var va = Vector512.Create(alpha);
        var vb = Vector512.Create(beta);
        if (cols == Nr)
        {
            if (beta != 0)
            {
                Vector512.Store(Vector512.FusedMultiplyAdd(lo, va, vb * Vector512.Load(c)), c);
                Vector512.Store(Vector512.FusedMultiplyAdd(hi, va, vb * Vector512.Load(c + 16)), c + 16);
            }
            else
            {
                Vector512.Store(lo * va, c);
                Vector512.Store(hi * va, c + 16);
            }
            return;
        }
        for (int j = 0; j < cols; j++)
        {
            float acc = j < 16 ? lo[j] : hi[j - 16];
            c[j] = beta == 0 ? acc * alpha : MathF.FusedMultiplyAdd(acc, alpha, beta * c[j]);
        }
    }
}
