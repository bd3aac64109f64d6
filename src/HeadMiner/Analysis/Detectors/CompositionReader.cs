using HeadMiner.Tensors.Kernels;

namespace HeadMiner.Analysis.Detectors;

/// <summary>
/// One side (query, key or value) through which a later layer's heads read the residual stream, for
/// <see cref="CompositionScores"/>: per query head h a d_model × d_head matrix B_h = W_b(h) F_hᵀ, where W_b is a weight
/// block [d_model, d_head] (W_Q of head h, or W_K / W_V of its k/v head) and F_h a d_head × d_head R factor (R_K, R_Q
/// or R_O). <see cref="Multiply"/> gives every earlier writer row times every B_h.
/// </summary>
/// <remarks>
/// When the query heads of a group share their weight block (grouped-query attention: W_K and W_V), B_h is never
/// formed: the writers are multiplied by the shared blocks once ([rows, d] × [d, k/v heads · d_head], group-size
/// times fewer multiply-adds than by every B_h) and each head's small factor is applied to its group's block after.
/// Otherwise (W_Q, or one query head per k/v head) the factors are folded into B once and the product is one GEMM.
/// Both give the same blocks up to float rounding: only the association of the three factors differs.
/// </remarks>
internal sealed class CompositionReader
{
    private readonly int _heads, _blocks, _dHead, _dModel;
    // Folded: B [d, heads·dh], column block h = B_h.
    private readonly float[]? _folded;
    // Shared: the weight blocks transposed, [blocks·dh, d] (row-major, as checkpoints store them), and Fᵀ [dh, heads·dh].
    private readonly float[]? _weightRows;
    private readonly float[]? _factorsT;

    /// <param name="weightRows">W_bᵀ of every block b, [blocks·d_head, d_model]; query head h reads block h / (heads / blocks).</param>
    /// <param name="factors">F_h [d_head, d_head] row-major, one per query head.</param>
    public CompositionReader(float[] weightRows, int blocks, float[][] factors, int dModel, int dHead)
    {
        _heads = factors.Length;
        _blocks = blocks;
        _dHead = dHead;
        _dModel = dModel;
        int width = _heads * dHead, group = _heads / blocks;
        if (blocks < _heads)
        {
            // KvHeadOf(h) = h / group: the heads of block b are b·group … b·group + group − 1, so their factors sit
            // side by side in Fᵀ and one GEMM per block applies them all.
            _weightRows = weightRows;
            _factorsT = new float[dHead * width];
            for (int h = 0; h < _heads; h++)
                for (int i = 0; i < dHead; i++)
                    for (int j = 0; j < dHead; j++) _factorsT[j * width + h * dHead + i] = factors[h][i * dHead + j];
            return;
        }
        _folded = new float[dModel * width];
        for (int h = 0; h < _heads; h++)
            Gemm.Multiply(true, true, dModel, dHead, dHead, 1f, weightRows.AsSpan(h / group * dHead * dModel), dModel,
                factors[h], dHead, 0f, _folded.AsSpan(h * dHead), width);
    }

    /// <summary>
    /// <paramref name="product"/> [rows, heads·d_head] = writers [rows, d_model] × [B_0 … B_{heads−1}];
    /// <paramref name="scratch"/> holds at least rows · blocks · d_head floats.
    /// </summary>
    public void Multiply(float[] writers, int rows, float[] product, float[] scratch)
    {
        int width = _heads * _dHead;
        if (_folded is not null)
        {
            Gemm.Multiply(false, false, rows, width, _dModel, 1f, writers, _dModel, _folded, width, 0f, product, width);
            return;
        }
        int coreWidth = _blocks * _dHead, group = _heads / _blocks;
        Gemm.Multiply(false, true, rows, coreWidth, _dModel, 1f, writers, _dModel, _weightRows, _dModel, 0f, scratch, coreWidth);
        for (int b = 0; b < _blocks; b++)
            Gemm.Multiply(false, false, rows, group * _dHead, _dHead, 1f, scratch.AsSpan(b * _dHead), coreWidth,
                _factorsT.AsSpan(b * group * _dHead), width, 0f, product.AsSpan(b * group * _dHead), width);
    }
}
