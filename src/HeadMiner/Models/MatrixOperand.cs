using HeadMiner.Tensors;
using HeadMiner.Tensors.Kernels;

namespace HeadMiner.Models;

/// <summary>
/// A weight matrix W [in, out] as the GEMM sees it: a pointer into storage, a leading dimension and whether the
/// storage is [out, in] (nn.Linear) so the product x·W runs as x·(storedᵀ). Built from TransformerLens-layout views
/// without copying; the per-head tensors [head, in, d_head] collapse into one [in, head·d_head] operand when the
/// heads sit side by side in the checkpoint (GPT-2, Llama), so a whole layer's Q (or K, V, O) is one GEMM.
/// A BF16/F16 weight stays 16-bit: the GEMM widens it while packing (<see cref="Tensor.Half"/>).
/// </summary>
internal readonly struct MatrixOperand
{
    private readonly Memory<float> _storage;
    private readonly HalfStorage? _half;
    private readonly int _offset;

    public bool StoredOutIn { get; }
    public int Ld { get; }
    public int In { get; }
    public int Out { get; }

    private MatrixOperand(Memory<float> storage, HalfStorage? half, int offset, bool storedOutIn, int ld, int rows, int cols)
    {
        _storage = storage;
        _half = half;
        _offset = offset;
        StoredOutIn = storedOutIn;
        Ld = ld;
        In = rows;
        Out = cols;
    }

    /// <summary>A GEMM operand for a 2-D [in, out] view, or null when neither axis has unit stride.</summary>
    public static MatrixOperand? Of2D(Tensor w, int offset, int rows, int cols, int rowStride, int colStride)
    {
        // A 16-bit tensor's float storage is never touched (reading it would widen the whole buffer).
        var storage = w.Half is null ? w.Storage : default;
        if (colStride == 1 || cols == 1) return new MatrixOperand(storage, w.Half, offset, false, Math.Max(rowStride, cols), rows, cols);
        if (rowStride == 1 || rows == 1) return new MatrixOperand(storage, w.Half, offset, true, Math.Max(colStride, rows), rows, cols);
        return null;
    }

    public static MatrixOperand? Of(Tensor w) => w.Rank == 2 ? Of2D(w, w.Offset, w.Dim(0), w.Dim(1), w.Strides[0], w.Strides[1]) : null;

    /// <summary>[head, in, d_head] as one [in, head·d_head] operand, when head h's block follows head h−1's.</summary>
    public static MatrixOperand? OfHeads(Tensor w)
    {
        int heads = w.Dim(0), rows = w.Dim(1), dh = w.Dim(2);
        var s = w.Strides;
        if (heads > 1 && s[0] != dh * s[2]) return null;
        return Of2D(w, w.Offset, rows, heads * dh, s[1], s[2]);
    }

    /// <summary>W_O [head, d_head, out] as one [head·d_head, out] operand, when the heads are stacked in order.</summary>
    public static MatrixOperand? OfOutput(Tensor w)
    {
        int heads = w.Dim(0), dh = w.Dim(1), cols = w.Dim(2);
        var s = w.Strides;
        if (heads > 1 && s[0] != dh * s[1]) return null;
        return Of2D(w, w.Offset, heads * dh, cols, s[1], s[2]);
    }

    /// <summary>
    /// Operands that are consecutive column blocks of one stored matrix (GPT-2's fused c_attn holds Q | K | V side by
    /// side) as one wider operand, so a single GEMM packs the input once; null when they are not.
    /// </summary>
    public static MatrixOperand? ConcatColumns(params MatrixOperand[] parts)
    {
        var first = parts[0];
        int offset = first._offset, cols = 0;
        foreach (var p in parts)
        {
            if (!p._storage.Equals(first._storage) || !ReferenceEquals(p._half, first._half) || p.StoredOutIn != first.StoredOutIn || p.Ld != first.Ld || p.In != first.In) return null;
            int expected = first._offset + (first.StoredOutIn ? cols * first.Ld : cols);
            if (p._offset != expected) return null;
            cols += p.Out;
        }
        return new MatrixOperand(first._storage, first._half, offset, first.StoredOutIn, first.Ld, first.In, cols);
    }

    /// <summary>
    /// y[rows, Out] (row stride ldy) = x[rows, In] (row stride ldx) · W + beta·y, in <paramref name="precision"/>.
    /// With <paramref name="packs"/> (the model's, for operands that view its weights, never for temporary copies) a
    /// float32 W in a product of few rows is packed once and reused; the result is the same bit for bit.
    /// </summary>
    public void Multiply(ReadOnlySpan<float> x, int ldx, int rows, Span<float> y, int ldy, float beta = 0f,
        ArithmeticPrecision precision = ArithmeticPrecision.Fp32, PackedWeights? packs = null)
    {
        if (precision == ArithmeticPrecision.Bf16)
        {
            if (_half is not null) GemmBf16.Multiply(StoredOutIn, rows, Out, In, 1f, x, ldx, _half.Bits.Span[_offset..], _half.Format, Ld, beta, y, ldy);
            else GemmBf16.Multiply(StoredOutIn, rows, Out, In, 1f, x, ldx, _storage.Span[_offset..], Ld, beta, y, ldy);
            return;
        }
        if (_half is not null) Gemm.Multiply(false, StoredOutIn, rows, Out, In, 1f, x, ldx, _half.Bits.Span[_offset..], _half.Format, Ld, beta, y, ldy);
        else if (rows > 1 && rows <= PackedWeights.MaxRows && packs?.For(_storage[_offset..], StoredOutIn, Ld, In, Out) is { } packed) Gemm.Multiply(false, rows, 1f, x, ldx, packed, beta, y, ldy);
        else Gemm.Multiply(false, StoredOutIn, rows, Out, In, 1f, x, ldx, _storage.Span[_offset..], Ld, beta, y, ldy);
    }
}
