using HeadMiner.Tensors.Kernels;

namespace HeadMiner.Tensors.Autodiff;

public static partial class Ops
{
    /// <summary>
    /// Rotary position embedding of x [rows, heads·headDim]: the first <paramref name="rotaryDim"/> dimensions of every
    /// head of row t are rotated by the angles of position positions[t], read from the tables
    /// (<see cref="Rotary.BuildTables"/>). The rotation is orthogonal, so the backward pass rotates dy back by −θ.
    /// </summary>
    public static Variable Rotary(Tape tape, Variable x, int heads, int headDim, int rotaryDim,
        ReadOnlyMemory<float> cos, ReadOnlyMemory<float> sin, int[] positions, RotaryStyle style)
    {
        ArgumentNullException.ThrowIfNull(tape);
        ArgumentNullException.ThrowIfNull(positions);
        int width = Features(x, nameof(x));
        if (width != heads * headDim) throw new ArgumentException($"x has {width} features, {heads} heads of {headDim} need {heads * headDim}", nameof(x));
        int rows = x.Value.Length / width;
        if (positions.Length != rows) throw new ArgumentException($"{positions.Length} positions for {rows} rows", nameof(positions));
        var y = Result(tape, x.Value.Shape.ToArray(), x);
        x.Value.Span.CopyTo(y.Value.Span);
        Kernels.Rotary.Apply(y.Value.Span, rows, width, heads, headDim, rotaryDim, cos.Span, sin.Span, positions, style);
        tape.Record(y, () =>
        {
            var dx = x.BeginGradientWrite(out var scratch);
            y.Gradient!.Span.CopyTo(dx);
            Kernels.Rotary.Apply(dx, rows, width, heads, headDim, rotaryDim, cos.Span, sin.Span, positions, style, inverse: true);
            x.EndGradientWrite(scratch);
        });
        return y;
    }
}
