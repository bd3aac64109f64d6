using HeadMiner.Tensors;

namespace HeadMiner.Models.Architectures;

/// <summary>
/// Zero-copy views that present checkpoint matrices in TransformerLens's per-head layout. "InOut" means the
/// checkpoint stores [in, out] and computes x·W (GPT-2 Conv1D); "OutIn" means [out, in] and x·Wᵀ (nn.Linear).
/// </summary>
public static class LayoutViews
{
    /// <summary>[heads, in, dHead] from an [in, outTotal] matrix whose head h owns columns firstColumn + h·headStride + [0, dHead).</summary>
    public static Tensor HeadsFromInOut(Tensor w, int firstColumn, int heads, int dHead, int headStride = -1)
    {
        if (headStride < 0) headStride = dHead;
        int s0 = w.Strides[0], s1 = w.Strides[1];
        return w.View(firstColumn * s1, [heads, w.Dim(0), dHead], [headStride * s1, s0, s1]);
    }

    /// <summary>[heads, in, dHead] from an [outTotal, in] matrix whose head h owns rows firstRow + h·headStride + [0, dHead).</summary>
    public static Tensor HeadsFromOutIn(Tensor w, int firstRow, int heads, int dHead, int headStride = -1)
    {
        if (headStride < 0) headStride = dHead;
        int s0 = w.Strides[0], s1 = w.Strides[1];
        return w.View(firstRow * s0, [heads, w.Dim(1), dHead], [headStride * s0, s1, s0]);
    }

    /// <summary>W_O [heads, dHead, out] from an [heads·dHead, out] matrix (x·W form).</summary>
    public static Tensor OutputFromInOut(Tensor w, int heads, int dHead) =>
        w.View(0, [heads, dHead, w.Dim(1)], [dHead * w.Strides[0], w.Strides[0], w.Strides[1]]);

    /// <summary>W_O [heads, dHead, out] from an [out, heads·dHead] matrix (nn.Linear form).</summary>
    public static Tensor OutputFromOutIn(Tensor w, int heads, int dHead) =>
        w.View(0, [heads, dHead, w.Dim(0)], [dHead * w.Strides[1], w.Strides[1], w.Strides[0]]);

    /// <summary>[heads, dHead] from a bias vector whose head h owns elements first + h·headStride + [0, dHead).</summary>
    public static Tensor HeadBias(Tensor b, int first, int heads, int dHead, int headStride = -1)
    {
        if (headStride < 0) headStride = dHead;
        return b.View(first * b.Strides[0], [heads, dHead], [headStride * b.Strides[0], b.Strides[0]]);
    }

    /// <summary>[in, out] from an nn.Linear [out, in] weight.</summary>
    public static Tensor InOutFromOutIn(Tensor w) => w.Transpose(0, 1);
}
