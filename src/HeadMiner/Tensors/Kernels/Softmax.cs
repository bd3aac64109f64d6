using System.Numerics.Tensors;

namespace HeadMiner.Tensors.Kernels;

/// <summary>
/// Softmax and log-softmax over the last axis of a [rows, cols] row-major block, in place, and their backward passes.
/// <para>
/// Each row is shifted by its maximum, exponentiated with <see cref="TensorPrimitives.Exp(ReadOnlySpan{float}, Span{float})"/>
/// and normalised by a sum accumulated in double, so a row of 50k logits still sums to 1 within a few float ulps.
/// </para>
/// <para>
/// Special values (in the visible part of a row): a NaN makes the whole row NaN; a +∞ makes the whole row NaN (as
/// PyTorch: ∞ − ∞); −∞ entries get probability exactly 0 (masking). A row that is entirely −∞, or that a causal mask
/// hides completely, is defined as all zeros for softmax and all −∞ for log-softmax — never NaN. Entries above the
/// causal diagonal are ignored, whatever they hold.
/// </para>
/// </summary>
public static class Softmax
{
    /// <summary>Each row becomes softmax(row).</summary>
    public static void Rows(Span<float> x, int rows, int cols) => CausalRows(x, rows, cols, int.MaxValue / 2);

    /// <summary>
    /// Causal softmax: row i may see columns 0..firstQueryPosition+i; the columns above that diagonal become exact zeros.
    /// With queries == keys pass firstQueryPosition = 0.
    /// </summary>
    public static void CausalRows(Span<float> x, int rows, int cols, int firstQueryPosition)
    {
        Reductions.CheckBlock(x.Length, rows, cols);
        for (int r = 0; r < rows; r++)
        {
            var row = x.Slice(r * cols, cols);
            int visible = Visible(firstQueryPosition, r, cols);
            SoftmaxInPlace(row[..visible]);
            row[visible..].Clear();
        }
    }

    /// <summary>Each row becomes log_softmax(row) = row − logsumexp(row).</summary>
    public static void LogRows(Span<float> x, int rows, int cols)
    {
        Reductions.CheckBlock(x.Length, rows, cols);
        for (int r = 0; r < rows; r++)
        {
            var row = x.Slice(r * cols, cols);
            if (row.IsEmpty) continue;
            float max = TensorPrimitives.Max(row);
            if (float.IsNegativeInfinity(max)) continue; // all −∞ stays −∞ (log of an all-zero distribution)
            // (x − max) − log Σ exp(x − max): subtracting the two parts separately keeps log-probabilities near 0
            // (a confident prediction) accurate; subtracting a rounded max + log Σ would not.
            TensorPrimitives.Subtract(row, max, row);
            float logSum = (float)Math.Log(Reductions.SumExpShifted(row, 0f));
            TensorPrimitives.Subtract(row, logSum, row);
        }
    }

    // ---- backward ------------------------------------------------------------------------------------------

    /// <summary>
    /// Backward of <see cref="Rows"/> from its output y: dx = y ⊙ (dy − Σ y·dy). dx may be the same span as dy.
    /// </summary>
    public static void RowsBackward(ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx, int rows, int cols) =>
        CausalRowsBackward(y, dy, dx, rows, cols, int.MaxValue / 2);

    /// <summary>
    /// Backward of <see cref="CausalRows"/> from its output y. Entries above the diagonal get dx = 0 (they did not
    /// influence the output), whatever dy holds there. dx may be the same span as dy.
    /// </summary>
    public static void CausalRowsBackward(ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx, int rows, int cols, int firstQueryPosition)
    {
        Reductions.CheckBlock(y.Length, rows, cols);
        Reductions.CheckBlock(dy.Length, rows, cols);
        Reductions.CheckBlock(dx.Length, rows, cols);
        for (int r = 0; r < rows; r++)
        {
            int visible = Visible(firstQueryPosition, r, cols);
            var yr = y.Slice(r * cols, visible);
            var dxr = dx.Slice(r * cols, cols);
            float dot = (float)Reductions.Dot(yr, dy.Slice(r * cols, visible));
            TensorPrimitives.Subtract(dy.Slice(r * cols, visible), dot, dxr[..visible]);
            TensorPrimitives.Multiply(dxr[..visible], yr, dxr[..visible]);
            dxr[visible..].Clear();
        }
    }

    /// <summary>
    /// Backward of <see cref="LogRows"/> from its output y (log-probabilities): dx = dy − exp(y) · Σ dy.
    /// A row whose y is entirely −∞ (a degenerate all −∞ input) gets dx = 0. dx may be the same span as dy.
    /// </summary>
    public static void LogRowsBackward(ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx, int rows, int cols)
    {
        Reductions.CheckBlock(y.Length, rows, cols);
        Reductions.CheckBlock(dy.Length, rows, cols);
        Reductions.CheckBlock(dx.Length, rows, cols);
        const int chunk = 256;
        Span<float> probabilities = stackalloc float[chunk];
        for (int r = 0; r < rows; r++)
        {
            var yr = y.Slice(r * cols, cols);
            var dyr = dy.Slice(r * cols, cols);
            var dxr = dx.Slice(r * cols, cols);
            if (cols == 0) continue;
            if (float.IsNegativeInfinity(TensorPrimitives.Max(yr)))
            {
                dxr.Clear();
                continue;
            }
            float total = (float)Reductions.Sum(dyr);
            for (int i = 0; i < cols; i += chunk)
            {
                int n = Math.Min(chunk, cols - i);
                var p = probabilities[..n];
                TensorPrimitives.Exp(yr.Slice(i, n), p);
                TensorPrimitives.MultiplyAdd(p, -total, dyr.Slice(i, n), dxr.Slice(i, n));
            }
        }
    }

    // ---- helpers -------------------------------------------------------------------------------------------

    private static int Visible(int firstQueryPosition, int row, int cols) => (int)Math.Clamp((long)firstQueryPosition + row + 1, 0, cols);

    private static void SoftmaxInPlace(Span<float> row)
    {
        if (row.IsEmpty) return;
        float max = TensorPrimitives.Max(row); // NaN if the row holds one: the whole row becomes NaN below
        if (float.IsNegativeInfinity(max))
        {
            row.Clear(); // every entry masked: defined as all zeros rather than 0/0
            return;
        }
        TensorPrimitives.Subtract(row, max, row);
        TensorPrimitives.Exp(row, row);
        double sum = Reductions.Sum(row); // ≥ 1 (the maximum contributes exp(0)) unless NaN
        TensorPrimitives.Multiply(row, (float)(1.0 / sum), row);
    }
}
