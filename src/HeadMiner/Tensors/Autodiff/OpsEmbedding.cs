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
        Kernels.Embedding.Gather(table.Value.Span, dim, ids, y.Value.Span);
        tape.Record(y, () => Kernels.Embedding.ScatterAdd(y.Gradient!.Span, dim, ids, table.AccumulatingGradient()));
        return y;
    }
}
