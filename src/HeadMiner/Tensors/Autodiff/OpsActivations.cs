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

    private static Variable Unary(Tape tape, Variable x, UnaryKernel forward, UnaryBackwardKernel backward)
    {
        ArgumentNullException.ThrowIfNull(tape);
        var y = Result(tape, x.Value.Shape.ToArray(), x);
        forward(x.Value.Span, y.Value.Span);
        tape.Record(y, () =>
        {
            var dx = x.BeginGradientWrite(out var scratch);
            backward(x.Value.Span, y.Gradient!.Span, dx);
            x.EndGradientWrite(scratch);
        });
        return y;
    }
}
