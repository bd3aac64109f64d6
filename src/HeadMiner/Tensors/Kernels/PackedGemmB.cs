using HeadMiner.Tensors.Kernels.GemmParts;

namespace HeadMiner.Tensors.Kernels;

/// <summary>
/// The B operand of <see cref="Gemm"/> packed once, ahead of time, into the micro-kernel's panel layout: for a
/// constant B (a weight matrix) every later product skips the packing step. <see cref="Gemm.Multiply(bool, int, float, ReadOnlySpan{float}, int, PackedGemmB, float, Span{float}, int)"/>
/// gives bit for bit the product with the original B: the same kernel sums every element in the same order.
/// </summary>
/// <remarks>
/// <para>Why: with few rows (a prompt of 8–32 tokens) each packed kc×Nr panel of B serves one to three tiles, so
/// packing it (a transpose, for nn.Linear weights [out, in]) costs about as much as using it: GPT-2 small's forward
/// runs in 0.59× the time at 8 tokens and 0.70–0.80× at 16–32 with its weights packed once (docs/PERFORMANCE.md). The
/// weights do not change between forwards, so they are packed once.</para>
/// <para>Layout: op(B) (k×n) as ⌈n/Nr⌉ panels of Nr columns, each k×Nr floats in depth order (depth p of panel q at
/// <c>q·k·Nr + p·Nr</c>), the last panel zero-padded. Any depth slice [pc, pc+kc) of a panel is therefore one
/// contiguous kc×Nr run, exactly what the driver would have packed, whatever the slice depth.</para>
/// <para>The packing belongs to the micro-kernel of the machine (Nr = 32 on AVX-512, 16 on AVX2). A product on
/// another path (a test forcing the fallback), and a one-row product (the GEMV reads B once anyway), run on the
/// original B, which this object keeps a reference to: the caller must not change B while it is packed. It costs as
/// much memory as op(B) in float32.</para>
/// </remarks>
public sealed unsafe class PackedGemmB
{
    // Packing copies whole vectors, so a panel may write up to one vector past its end.
    private const int Slack = 16;

    private readonly float[]? _panels; // pinned (pinned-object heap), so _origin stays valid
    private readonly float* _origin;
    private readonly GemmKernelPath _path;

    /// <summary>The original op(B): B is k×n (row stride ldb), or n×k when <see cref="TransB"/>.</summary>
    public ReadOnlyMemory<float> Original { get; }
    public bool TransB { get; }
    public int Ldb { get; }
    public int K { get; }
    public int N { get; }

    /// <summary>Bytes of the packed copy (0 where this machine runs the scalar fallback, which packs nothing).</summary>
    public long PackedBytes => _panels is null ? 0 : (long)_panels.Length * sizeof(float);

    private PackedGemmB(ReadOnlyMemory<float> b, bool transB, int ldb, int k, int n, float[]? panels, GemmKernelPath path)
    {
        Original = b;
        TransB = transB;
        Ldb = ldb;
        K = k;
        N = n;
        _panels = panels;
        _path = path;
        if (panels is not null)
            fixed (float* p = panels) _origin = p; // pinned array: the address stays valid while the object lives
    }

    /// <summary>Bytes <see cref="Pack"/> allocates for a k×n operand on the calling thread's path (0 where nothing is packed).</summary>
    public static long BytesFor(int k, int n)
    {
        int nr = PanelWidth(GemmKernelPaths.Current);
        return nr == 0 || n == 0 || k == 0 ? 0 : ((long)(n + nr - 1) / nr * nr * k + Slack) * sizeof(float);
    }

    private static int PanelWidth(GemmKernelPath path) =>
        path switch { GemmKernelPath.Avx512 => MicroKernel12x32Avx512.Nr, GemmKernelPath.Avx2 => MicroKernel6x16Avx2.Nr, _ => 0 };

    /// <summary>Packs op(B) (k×n) for the micro-kernel of the calling thread's path, on the worker threads.</summary>
    public static PackedGemmB Pack(bool transB, int k, int n, ReadOnlyMemory<float> b, int ldb)
    {
        Gemm.ValidateShape(1, n, k);
        Gemm.ValidateOperand(b.Length, transB ? n : k, transB ? k : n, ldb, 0, 1, nameof(b), nameof(ldb));
        GemmKernelPath path = GemmKernelPaths.Current;
        int nr = PanelWidth(path);
        if (nr == 0 || n == 0 || k == 0) return new PackedGemmB(b, transB, ldb, k, n, null, path);

        int panels = (n + nr - 1) / nr;
        long floats = (long)panels * nr * k + Slack;
        if (floats > Array.MaxLength) throw new ArgumentException($"a packed {k}×{n} operand ({floats} floats) exceeds the largest array", nameof(b));
        float[] packed = floats * sizeof(float) >= HugePageArrays.MinBytes
            ? HugePageArrays.Uninitialized((int)floats)
            : GC.AllocateUninitializedArray<float>((int)floats, pinned: true);
        using (var pin = b.Pin())
            fixed (float* dest = packed)
            {
                var job = new PackJob((float*)pin.Pointer, transB ? ldb : 1, transB ? 1 : ldb, k, n, nr, dest);
                if (WorkerPool.InsideParallelRegion) for (int q = 0; q < panels; q++) job.Invoke(q);
                else WorkerPool.For(panels, job);
            }
        return new PackedGemmB(b, transB, ldb, k, n, packed, path);
    }

    /// <summary>The full-depth panels when a product on <paramref name="path"/> can use them, else null.</summary>
    internal float* PanelsFor(GemmKernelPath path) => _panels is not null && path == _path ? _origin : null;

    /// <summary>Keeps the pinned array reachable until a product that read it through a pointer has finished.</summary>
    internal void KeepAlive() => GC.KeepAlive(_panels);

    private sealed class PackJob(float* src, nint outerStride, nint depthStride, int k, int n, int nr, float* dest) : IParallelBody
    {
        public void Invoke(int q)
        {
            int j = q * nr;
            GemmPacking.PackPanel(src + j * outerStride, outerStride, depthStride, Math.Min(nr, n - j), k, nr, dest + (nint)j * k);
        }
    }
}
