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
