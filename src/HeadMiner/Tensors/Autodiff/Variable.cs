using System.Buffers;
using HeadMiner.Tensors.Kernels;

namespace HeadMiner.Tensors.Autodiff;

/// <summary>
/// A node of reverse-mode autodiff: a contiguous <see cref="Tensor"/> value and, once a backward pass has reached
/// it, a gradient of the same shape. Parameters (<see cref="RequiresGradient"/>) and every op result computed from one
/// receive gradients; constants (inputs, frozen weights) never allocate one.
/// </summary>
public sealed class Variable
{
    private readonly TensorArena? _arena;
    private Tensor? _gradient;

    /// <summary>
    /// A variable over <paramref name="value"/>. A trainable value must be contiguous (its gradient is laid out like it,
    /// and an optimiser updates it in place); a constant that is a strided view is copied once.
    /// </summary>
    public Variable(Tensor value, bool requiresGradient = false)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (requiresGradient && !value.IsContiguous)
            throw new ArgumentException($"a trainable value must be contiguous; {value.ShapeString} is a strided view", nameof(value));
        Value = value.Contiguous();
        RequiresGradient = requiresGradient;
    }

    /// <summary>A trainable leaf: gradients accumulate into <see cref="Gradient"/>.</summary>
    /// <summary>An op result whose value came from <paramref name="arena"/>; its gradient will come from there too.</summary>
    internal Variable(Tensor value, bool requiresGradient, TensorArena? arena)
        : this(value, requiresGradient)
    {
        _arena = arena;
    }

    public static Variable Parameter(Tensor value) => new(value, requiresGradient: true);

    /// <summary>A leaf that receives no gradient (data, frozen weights).</summary>
    public static Variable Constant(Tensor value) => new(value, requiresGradient: false);

    public Tensor Value { get; }

    public bool RequiresGradient { get; }

    /// <summary>d(loss)/d(value), accumulated over backward passes; null until a backward pass has reached this variable.</summary>
    public Tensor? Gradient => _gradient;

    public ReadOnlySpan<int> Shape => Value.Shape;

    /// <summary>Zeroes the accumulated gradient (keeps the buffer for the next step).</summary>
    public void ZeroGradient() => _gradient?.Span.Clear();

    /// <summary>The gradient buffer to accumulate into, allocated (zeroed) on first use.</summary>
    internal Span<float> AccumulatingGradient() =>
        (_gradient ??= _arena is null ? Tensor.Zeros(Value.Shape.ToArray()) : _arena.Zeros(Value.Shape.ToArray())).Span;

    /// <summary>
    /// A span a backward kernel that <b>overwrites</b> its output can write this variable's gradient contribution into:
    /// the gradient itself when nothing has flowed in yet (no scratch, no add), otherwise a zeroed pooled scratch
    /// buffer that <see cref="EndGradientWrite"/> adds in. For a variable that needs no gradient the scratch is
    /// discarded (kernels that compute several gradients at once need somewhere to write every one).
    /// </summary>
    internal Span<float> BeginGradientWrite(out float[]? scratch)
    {
        int length = Value.Length;
        if (RequiresGradient && _gradient is null)
        {
            scratch = null;
            return AccumulatingGradient();
        }
        scratch = ArrayPool<float>.Shared.Rent(length);
        var span = scratch.AsSpan(0, length);
        span.Clear(); // kernels may leave masked entries unwritten
        return span;
    }

    /// <summary>Completes <see cref="BeginGradientWrite"/>: adds the scratch contribution (if any) and returns it to the pool.</summary>
    internal void EndGradientWrite(float[]? scratch)
    {
        if (scratch is null) return;
        if (RequiresGradient) Elementwise.Axpy(1f, scratch.AsSpan(0, Value.Length), _gradient!.Span);
        ArrayPool<float>.Shared.Return(scratch);
    }

    public override string ToString() => $"Variable{Value.ShapeString}{(RequiresGradient ? " (requires gradient)" : "")}";
}
