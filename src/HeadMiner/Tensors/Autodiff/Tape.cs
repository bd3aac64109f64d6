namespace HeadMiner.Tensors.Autodiff;

/// <summary>
/// Records differentiable operations in the order they run; <see cref="Backward(Variable)"/> replays their backward
/// closures in reverse, so every gradient is complete before it is propagated further. Only operations with at least
/// one input that needs a gradient are recorded: a computation on constants leaves the tape empty and costs nothing
/// beyond its forward kernels. One tape per step: <see cref="Clear"/> (or a new tape) before the next forward.
/// A training loop passes a <see cref="TensorArena"/> so that the step's values and gradients reuse the last
/// step's buffers instead of being allocated afresh.
/// </summary>
public sealed class Tape
{
    private readonly List<(Variable Output, Action Backward)> _entries = [];

    /// <summary>A tape whose op results and their gradients are fresh allocations.</summary>
    public Tape()
    {
    }

    /// <summary>A tape whose op results, their gradients and saved attention patterns come from <paramref name="arena"/>.</summary>
    public Tape(TensorArena arena)
    {
        ArgumentNullException.ThrowIfNull(arena);
        Arena = arena;
    }

    /// <summary>Where op results are allocated; null: fresh arrays.</summary>
    public TensorArena? Arena { get; }

    /// <summary>A zeroed buffer for an op's result or saved state: from the arena when there is one.</summary>
    internal Tensor Zeros(int[] shape) => Arena is null ? Tensor.Zeros(shape) : Arena.Zeros(shape);

    /// <summary>A zeroed array of <paramref name="length"/> floats: from the arena when there is one.</summary>
    internal float[] Rent(int length) => Arena is null ? new float[length] : Arena.Rent(length);

    /// <summary>Number of recorded operations.</summary>
    public int Count => _entries.Count;

    /// <summary>
    /// Registers the backward closure of an op whose result is <paramref name="output"/>. The closure reads
    /// output.Gradient (complete when it runs) and accumulates into its inputs' gradients.
    /// </summary>
    internal void Record(Variable output, Action backward)
    {
        if (output.RequiresGradient) _entries.Add((output, backward));
    }

    /// <summary>Back-propagates from a scalar loss: d(loss)/d(loss) = 1 is added to its gradient.</summary>
    public void Backward(Variable loss)
    {
        ArgumentNullException.ThrowIfNull(loss);
        if (loss.Value.Length != 1) throw new ArgumentException($"loss must hold one value, not {loss.Value.ShapeString}; pass an output gradient for a non-scalar output", nameof(loss));
        var seed = Tensor.Full(1f, loss.Value.Shape.ToArray());
        Backward(loss, seed);
    }

    /// <summary>
    /// Back-propagates a given gradient of <paramref name="output"/> (a vector-Jacobian product: afterwards every
    /// parameter's gradient has gained Σ outputGradient · d(output)/d(parameter)).
    /// </summary>
    public void Backward(Variable output, Tensor outputGradient)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(outputGradient);
        if (!output.Value.Shape.SequenceEqual(outputGradient.Shape))
            throw new ArgumentException($"output gradient {outputGradient.ShapeString} does not match output {output.Value.ShapeString}", nameof(outputGradient));
        if (!output.RequiresGradient) return; // nothing trainable upstream
        var gradient = output.AccumulatingGradient();
        Kernels.Elementwise.Axpy(1f, outputGradient.Contiguous().Span, gradient);
        for (int i = _entries.Count - 1; i >= 0; i--)
        {
            var (result, backward) = _entries[i];
            if (result.Gradient is not null) backward(); // results the output does not depend on have no gradient
        }
    }

    /// <summary>Forgets the recorded operations (their variables keep their gradients).</summary>
    public void Clear() => _entries.Clear();
}
