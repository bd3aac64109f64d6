namespace HeadMiner.Tensors.Kernels;

/// <summary>Softmax and log-softmax over the last axis of a [rows, cols] row-major block, in place.</summary>
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
        for (int r = 0; r < rows; r++)
        {
            var row = x.Slice(r * cols, cols);
            int visible = (int)Math.Clamp((long)firstQueryPosition + r + 1, 0, cols);
            float max = float.NegativeInfinity;
            for (int j = 0; j < visible; j++) max = MathF.Max(max, row[j]);
            float sum = 0;
            for (int j = 0; j < visible; j++) sum += row[j] = MathF.Exp(row[j] - max);
            for (int j = 0; j < visible; j++) row[j] /= sum;
            row[visible..].Clear();
        }
    }

    /// <summary>Each row becomes log_softmax(row).</summary>
    public static void LogRows(Span<float> x, int rows, int cols)
    {
        for (int r = 0; r < rows; r++)
        {
            var row = x.Slice(r * cols, cols);
            float max = float.NegativeInfinity;
            foreach (float v in row) max = MathF.Max(max, v);
            double sum = 0;
            foreach (float v in row) sum += Math.Exp(v - max);
            float lse = max + (float)Math.Log(sum);
            for (int j = 0; j < cols; j++) row[j] -= lse;
        }
    }
}
