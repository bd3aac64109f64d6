using HeadMiner.Tensors.Kernels;

namespace HeadMiner.Tensors.Autodiff;

public static partial class Ops
{
    /// <summary>
    /// LayerNorm over the last axis: (x − mean)/sqrt(var + eps) · weight + bias; a null weight or bias means none
    /// (a folded LayerNorm). The backward kernel recomputes the row statistics from x, so nothing else is saved.
    /// </summary>
    public static Variable LayerNorm(Tape tape, Variable x, Variable? weight, Variable? bias, float eps)
    {
        ArgumentNullException.ThrowIfNull(tape);
        int dim = Features(x, nameof(x));
        CheckVector(weight, dim, nameof(weight));
        CheckVector(bias, dim, nameof(bias));
        int rows = x.Value.Length / dim;
        var y = Result(tape, x.Value.Shape.ToArray(), x, weight, bias);
        ForRows(rows, dim, (r0, n) => Norms.LayerNorm(x.Value.Span.Slice(r0 * dim, n * dim), y.Value.Span.Slice(r0 * dim, n * dim), n, dim,
            Values(weight), Values(bias), eps));
        tape.Record(y, () =>
        {
            // The kernel always writes dx; when x needs none it lands in discarded scratch.
            var dx = x.BeginGradientWrite(out var scratch);
            if ((long)rows * dim <= ParallelChunk || WorkerPool.MaxThreads == 1)
                Norms.LayerNormBackward(x.Value.Span, y.Gradient!.Span, dx, rows, dim, Values(weight), eps,
                    GradientOrNone(weight), GradientOrNone(bias));
            else
                ParallelLayerNormBackward(x, y.Gradient!, scratch is null ? x.Gradient! : Tensor.Wrap(scratch, x.Value.Length), rows, dim, weight, bias, eps);
            x.EndGradientWrite(scratch);
        });
        return y;
    }

    /// <summary>
    /// RMSNorm over the last axis: x / sqrt(mean(x²) + eps) · weight (null weight: none). With
    /// <paramref name="group"/> &gt; 0 every run of that many values of the last axis is normalised on its own (a
    /// per-head QK-norm over [rows, heads·d_head]) and the weight has <paramref name="group"/> values.
    /// </summary>
    public static Variable RmsNorm(Tape tape, Variable x, Variable? weight, float eps, int group = 0)
    {
        ArgumentNullException.ThrowIfNull(tape);
        int dim = Features(x, nameof(x));
        if (group > 0)
        {
            if (dim % group != 0) throw new ArgumentException($"the last axis ({dim}) is not a multiple of the norm group {group}", nameof(group));
            dim = group;
        }
        CheckVector(weight, dim, nameof(weight));
        int rows = x.Value.Length / dim;
        var y = Result(tape, x.Value.Shape.ToArray(), x, weight);
        Norms.RmsNorm(x.Value.Span, y.Value.Span, rows, dim, Values(weight), eps);
        tape.Record(y, () =>
        {
            var dx = x.BeginGradientWrite(out var scratch);
            Norms.RmsNormBackward(x.Value.Span, y.Gradient!.Span, dx, rows, dim, Values(weight), eps, GradientOrNone(weight));
            x.EndGradientWrite(scratch);
        });
        return y;
    }

    /// <summary>
    /// <see cref="Norms.LayerNormBackward"/> on the worker threads with the same bits: dx split by rows (no parameter
    /// gradients), then the weight and bias gradients split by columns, each column accumulated over the rows in order.
    /// </summary>
    private static void ParallelLayerNormBackward(Variable x, Tensor dy, Tensor dx, int rows, int dim, Variable? weight, Variable? bias, float eps)
    {
        ForRows(rows, dim, (r0, n) => Norms.LayerNormBackward(x.Value.Span.Slice(r0 * dim, n * dim), dy.Span.Slice(r0 * dim, n * dim),
            dx.Span.Slice(r0 * dim, n * dim), n, dim, Values(weight), eps));
        bool weightGradient = weight is { RequiresGradient: true }, biasGradient = bias is { RequiresGradient: true };
        if (!weightGradient && !biasGradient) return;
        if (weightGradient) weight!.AccumulatingGradient();
        if (biasGradient) bias!.AccumulatingGradient();
        // One column range per thread (whole vectors): each recomputes the row statistics, so few and wide is best.
        int w = System.Numerics.Vector<float>.Count;
        int columnsPerItem = Math.Max(w, (dim + WorkerPool.MaxThreads * w - 1) / (WorkerPool.MaxThreads * w) * w);
        WorkerPool.For((dim + columnsPerItem - 1) / columnsPerItem, i =>
        {
            int c0 = i * columnsPerItem;
            Norms.LayerNormParameterGradients(x.Value.Span, dy.Span, rows, dim, eps, c0, Math.Min(columnsPerItem, dim - c0),
                weightGradient ? weight!.Gradient!.Span : default, biasGradient ? bias!.Gradient!.Span : default);
        });
    }

    private static ReadOnlySpan<float> Values(Variable? v) => v is null ? default : v.Value.Span;

    /// <summary>The gradient to accumulate into, or an empty span (the kernels' "skip it") when none is wanted.</summary>
    private static Span<float> GradientOrNone(Variable? v) => v is { RequiresGradient: true } ? v.AccumulatingGradient() : default;
}
