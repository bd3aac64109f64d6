using HeadMiner.Tensors.Kernels;

namespace HeadMiner.Tensors.Autodiff;

public static partial class Ops
{
    /// <summary>
    /// Elements per work item of the split elementwise loops: a multiple of the kernels' internal chunk (1024), so
    /// every element is computed by exactly the code path, and with exactly the vector lanes, of a single-threaded
    /// call — splitting changes the time, never the bits.
    /// </summary>
    private const int ParallelChunk = 1 << 14;

    /// <summary>Columns per work item of the split column reductions (whole vectors of floats).</summary>
    private const int ParallelColumns = 32;

    /// <summary>
    /// body(start, count) over [0, length) in <see cref="ParallelChunk"/>-aligned pieces on the worker threads (inline
    /// when small). The training step's elementwise work is otherwise single-threaded and a visible share of it.
    /// </summary>
    private static void ForChunks(int length, Action<int, int> body)
    {
        if (length <= ParallelChunk || WorkerPool.MaxThreads == 1)
        {
            body(0, length);
            return;
        }
        WorkerPool.For((length + ParallelChunk - 1) / ParallelChunk, i => body(i * ParallelChunk, Math.Min(ParallelChunk, length - i * ParallelChunk)));
    }

    /// <summary>
    /// body(firstRow, rowCount) over the rows of a [rows, width] block in pieces of about <see cref="ParallelChunk"/>
    /// elements on the worker threads (inline when small). For row-wise kernels: rows are independent, so the split
    /// changes no bits.
    /// </summary>
    private static void ForRows(int rows, int width, Action<int, int> body)
    {
        if ((long)rows * width <= ParallelChunk || WorkerPool.MaxThreads == 1)
        {
            body(0, rows);
            return;
        }
        int rowsPerItem = Math.Max(1, ParallelChunk / 4 / Math.Max(width, 1));
        WorkerPool.For((rows + rowsPerItem - 1) / rowsPerItem, i => body(i * rowsPerItem, Math.Min(rowsPerItem, rows - i * rowsPerItem)));
    }

    /// <summary>target's gradient += dy, split across the worker threads (exact: one float addition per element).</summary>
    private static void AccumulateGradient(Variable target, Tensor dy)
    {
        target.AccumulatingGradient();
        var gradient = target.Gradient!;
        ForChunks(dy.Length, (start, n) => Elementwise.Axpy(1f, dy.Span.Slice(start, n), gradient.Span.Slice(start, n)));
    }

    /// <summary>sums[c] += Σ_r x[r, c], split by column ranges (each column summed in the single-threaded order).</summary>
    private static void AccumulateColumnSums(Tensor x, int rows, int cols, Variable target)
    {
        target.AccumulatingGradient();
        var sums = target.Gradient!;
        if ((long)rows * cols <= ParallelChunk || cols < 2 * ParallelColumns || WorkerPool.MaxThreads == 1)
        {
            Reductions.ColumnSums(x.Span, rows, cols, sums.Span, accumulate: true);
            return;
        }
        WorkerPool.For((cols + ParallelColumns - 1) / ParallelColumns, i =>
        {
            int first = i * ParallelColumns;
            Reductions.ColumnSums(x.Span, rows, cols, first, Math.Min(ParallelColumns, cols - first), sums.Span, accumulate: true);
        });
    }
}
