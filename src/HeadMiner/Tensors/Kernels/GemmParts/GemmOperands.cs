namespace HeadMiner.Tensors.Kernels.GemmParts;

/// <summary>
/// One product C = alpha·op(A)·op(B) + beta·C as raw strided views (the spans are pinned by the caller).
/// op(A)[i, p] is at <c>A[i·AOuter + p·ADepth]</c>, op(B)[p, j] at <c>B[j·BOuter + p·BDepth]</c>: the transpose flags
/// only swap which stride is 1, so packing handles both layouts without transposed copies. B may instead be 16-bit
/// (<see cref="BHalf"/>, non-null, with <see cref="B"/> null): the same strides in 16-bit elements, widened while packed.
/// </summary>
internal unsafe struct GemmOperands
{
    public float* A;
    public nint AOuter, ADepth;
    public float* B;
    public ushort* BHalf;
    public HalfFormat BFormat;
    public nint BOuter, BDepth;
    public float* C;
    public nint Ldc;

    /// <summary>
    /// op(B) already packed (<see cref="PackedGemmB"/>: full-depth panels of the kernel's Nr columns, panel q at
    /// q·K·Nr), or null: then the driver packs B itself. Only the blocked drivers read it.
    /// </summary>
    public float* PackedB;
    public int K;
    public float Alpha, Beta;

    public GemmOperands(bool transA, bool transB, int k, float alpha, float* a, int lda, float* b, int ldb,
        float beta, float* c, int ldc)
    {
        A = a;
        AOuter = transA ? 1 : lda;
        ADepth = transA ? lda : 1;
        B = b;
        BOuter = transB ? ldb : 1;
        BDepth = transB ? 1 : ldb;
        C = c;
        Ldc = ldc;
        K = k;
        Alpha = alpha;
        Beta = beta;
    }

    /// <summary>The same product with a 16-bit B at <paramref name="b"/> (same strides, in 16-bit elements).</summary>
    public static GemmOperands WithHalfB(in GemmOperands op, ushort* b, HalfFormat format)
    {
        GemmOperands o = op;
        o.B = null;
        o.BHalf = b;
        o.BFormat = format;
        return o;
    }

    /// <summary>The same product with op(B) read from panels packed ahead of time (<see cref="PackedB"/>).</summary>
    public static GemmOperands WithPackedB(in GemmOperands op, float* panels)
    {
        GemmOperands o = op;
        o.PackedB = panels;
        return o;
    }

    /// <summary>op(B)[p, j] widened to float32, whatever B's storage (the scalar driver's reads).</summary>
    public readonly float BAt(int p, int j)
    {
        nint index = j * BOuter + p * BDepth;
        return BHalf == null ? B[index] : HalfWidening.ToFloat(BHalf[index], BFormat);
    }

    /// <summary>The same product on the matrices <paramref name="offsetA"/>, <paramref name="offsetB"/>, <paramref name="offsetC"/> elements further on (a batch item).</summary>
    public readonly GemmOperands Offset(long offsetA, long offsetB, long offsetC)
    {
        GemmOperands o = this;
        o.A += offsetA;
        if (o.BHalf != null) o.BHalf += offsetB;
        else o.B += offsetB;
        o.C += offsetC;
        return o;
    }
}
