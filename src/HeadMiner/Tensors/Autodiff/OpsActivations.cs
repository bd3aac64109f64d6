using HeadMiner.Tensors.Kernels;

namespace HeadMiner.Tensors.Autodiff;

public static partial class Ops
{
    private delegate void UnaryKernel(ReadOnlySpan<float> x, Span<float> y);

    private delegate void UnaryBackwardKernel(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx);

    /// <summary>GELU, tanh approximation (GPT-2's "gelu_new").</summary>
    public static Variable GeluTanh(Tape tape, Variable x) => Unary(tape, x, Activations.GeluTanh, Activations.GeluTanhBackward);

    /// <summary>Exact GELU, x·Φ(x).</summary>
    public static Variable GeluErf(Tape tape, Variable x) => Unary(tape, x, Activations.GeluErf, Activations.GeluErfBackward);

    /// <summary>SiLU, x·σ(x).</summary>
    public static Variable Silu(Tape tape, Variable x) => Unary(tape, x, Activations.Silu, Activations.SiluBackward);

    /// <summary>SwiGLU gate: silu(gate) · up (same shapes).</summary>
    public static Variable SwiGlu(Tape tape, Variable gate, Variable up)
    {
        ArgumentNullException.ThrowIfNull(tape);
        CheckSameShape(gate, up, nameof(up));
        var y = Result(tape, gate.Value.Shape.ToArray(), gate, up);
        Activations.SwiGlu(gate.Value.Span, up.Value.Span, y.Value.Span);
        tape.Record(y, () =>
        {
            // Both begins before the kernel: when gate and up are one variable the second gets scratch, not an alias.
            var dGate = gate.BeginGradientWrite(out var gateScratch);
            var dUp = up.BeginGradientWrite(out var upScratch);
            Activations.SwiGluBackward(gate.Value.Span, up.Value.Span, y.Gradient!.Span, dGate, dUp);
            gate.EndGradientWrite(gateScratch);
            up.EndGradientWrite(upScratch);
        });
        return y;
    }

    /// <summary>GeGLU gate (Gemma's MLP): gelu_tanh(gate) · up (same shapes).</summary>
    public static Variable GeGlu(Tape tape, Variable gate, Variable up)
    {
        ArgumentNullException.ThrowIfNull(tape);
        CheckSameShape(gate, up, nameof(up));
        var y = Result(tape, gate.Value.Shape.ToArray(), gate, up);
        var activated = new float[gate.Value.Length];
        Activations.GeluTanh(gate.Value.Span, activated);
        System.Numerics.Tensors.TensorPrimitives.Multiply(activated, up.Value.Span, y.Value.Span);
        tape.Record(y, () =>
        {
            var dy = y.Gradient!.Span;
            // dUp = dy · gelu(gate); dGate = (dy · up) · gelu′(gate). Both products are formed before either write,
            // so gate and up may be one variable.
            var dyUp = new float[dy.Length];
            System.Numerics.Tensors.TensorPrimitives.Multiply(dy, up.Value.Span, dyUp);
            var dyGelu = new float[dy.Length];
            System.Numerics.Tensors.TensorPrimitives.Multiply(dy, activated, dyGelu);
            var dGate = gate.BeginGradientWrite(out var gateScratch);
            var dUp = up.BeginGradientWrite(out var upScratch);
            Activations.GeluTanhBackward(gate.Value.Span, dyUp, dGate);
            dyGelu.CopyTo(dUp);
            gate.EndGradientWrite(gateScratch);
            up.EndGradientWrite(upScratch);
        });
        return y;
    }

    /// <summary>Soft-capping y = cap·tanh(x / cap) (Gemma 2's final logits).</summary>
    public static Variable SoftCap(Tape tape, Variable x, float cap)
    {
        ArgumentNullException.ThrowIfNull(tape);
        var y = Result(tape, x.Value.Shape.ToArray(), x);
        Activations.SoftCap(x.Value.Span, y.Value.Span, cap);
        tape.Record(y, () =>
        {
            var dx = x.BeginGradientWrite(out var scratch);
            Activations.SoftCapBackward(y.Value.Span, y.Gradient!.Span, dx, cap);
            x.EndGradientWrite(scratch);
        });
        return y;
    }

    private static Variable Unary(Tape tape, Variable x, UnaryKernel forward, UnaryBackwardKernel backward)
    {
        ArgumentNullException.ThrowIfNull(tape);
        var y = Result(tape, x.Value.Shape.ToArray(), x);
        ForChunks(x.Value.Length, (start, n) => forward(x.Value.Span.Slice(start, n), y.Value.Span.Slice(start, n)));
        tape.Record(y, () =>
        {
            // The span BeginGradientWrite gives is the gradient itself or the scratch array: as tensors, the split
            // loop's pieces can reach it.
            _ = x.BeginGradientWrite(out var scratch);
            var target = scratch is null ? x.Gradient! : Tensor.Wrap(scratch, x.Value.Length);
            ForChunks(x.Value.Length, (start, n) => backward(x.Value.Span.Slice(start, n), y.Gradient!.Span.Slice(start, n), target.Span.Slice(start, n)));
            x.EndGradientWrite(scratch);
        });
        return y;
    }
}
