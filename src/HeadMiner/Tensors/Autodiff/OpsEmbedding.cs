using HeadMiner.Tensors.Kernels;

namespace HeadMiner.Tensors.Autodiff;

public static partial class Ops
{
    /// <summary>
    /// Rows of table [vocab, dim] for each id: [ids.Length, dim]. Token embeddings, and learned position embeddings
    /// with ids = positions. Backward: the table's gradient rows receive dy (repeated ids accumulate).
    /// </summary>
    public static Variable Embedding(Tape tape, Variable table, int[] ids)
    {
        ArgumentNullException.ThrowIfNull(tape);
        ArgumentNullException.ThrowIfNull(ids);
        if (table.Value.Rank != 2) throw new ArgumentException($"embedding table has shape {table.Value.ShapeString}, expected [vocab, dim]", nameof(table));
        int dim = table.Value.Dim(1);
        var y = Result(tape, [ids.Length, dim], table);
        // A 16-bit table (a mapped checkpoint's embedding) is read row by row, never widened whole.
        if (table.Value.Half is { } half) Kernels.Embedding.Gather(half.Bits.Span[table.Value.Offset..], half.Format, dim, ids, y.Value.Span);
        else Kernels.Embedding.Gather(table.Value.Span, dim, ids, y.Value.Span);
        tape.Record(y, () =>
        {
            // A constant table (inference weights) gets no gradient: accumulating one would allocate vocab × dim floats.
            if (table.RequiresGradient) Kernels.Embedding.ScatterAdd(y.Gradient!.Span, dim, ids, table.AccumulatingGradient());
        });
        return y;
    }
}
