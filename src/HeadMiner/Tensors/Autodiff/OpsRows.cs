using HeadMiner.Tensors.Kernels;

namespace HeadMiner.Tensors.Autodiff;

public static partial class Ops
{
    /// <summary>
    /// Rows <paramref name="rows"/> of x [rows…, features] as a new block [rows.Length, features]: e.g. each sequence's
    /// last position, so a last-position metric unembeds only those rows. Backward: dx[rows[i]] += dy[i] (a row picked
    /// twice accumulates).
    /// </summary>
    public static Variable GatherRows(Tape tape, Variable x, int[] rows)
    {
        ArgumentNullException.ThrowIfNull(tape);
        ArgumentNullException.ThrowIfNull(rows);
        int width = Features(x, nameof(x));
        int available = x.Value.Length / Math.Max(width, 1);
        foreach (int r in rows)
            if ((uint)r >= (uint)available) throw new ArgumentException($"row {r} is outside x's {available} rows", nameof(rows));
        var y = Result(tape, [rows.Length, width], x);
        var src = x.Value.Span;
        var dst = y.Value.Span;
        for (int i = 0; i < rows.Length; i++) src.Slice(rows[i] * width, width).CopyTo(dst.Slice(i * width, width));
        tape.Record(y, () =>
        {
            var dy = y.Gradient!.Span;
            var dx = x.AccumulatingGradient();
            for (int i = 0; i < rows.Length; i++) Elementwise.Axpy(1f, dy.Slice(i * width, width), dx.Slice(rows[i] * width, width));
        });
        return y;
    }
}
