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
        Norms.LayerNorm(x.Value.Span, y.Value.Span, rows, dim, Values(weight), Values(bias), eps);
        tape.Record(y, () =>
        {
            // The kernel always writes dx; when x needs none it lands in discarded scratch.
            var dx = x.BeginGradientWrite(out var scratch);
            Norms.LayerNormBackward(x.Value.Span, y.Gradient!.Span, dx, rows, dim, Values(weight), eps,
                GradientOrNone(weight), GradientOrNone(bias));
            x.EndGradientWrite(scratch);
        });
        return y;
    }

    /// <summary>RMSNorm over the last axis: x / sqrt(mean(x²) + eps) · weight (null weight: none).</summary>
    public static Variable RmsNorm(Tape tape, Variable x, Variable? weight, float eps)
    {
        ArgumentNullException.ThrowIfNull(tape);
        int dim = Features(x, nameof(x));
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

    private static ReadOnlySpan<float> Values(Variable? v) => v is null ? default : v.Value.Span;

    /// <summary>The gradient to accumulate into, or an empty span (the kernels' "skip it") when none is wanted.</summary>
    private static Span<float> GradientOrNone(Variable? v) => v is { RequiresGradient: true } ? v.AccumulatingGradient() : default;
}
