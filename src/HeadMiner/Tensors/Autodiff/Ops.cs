namespace HeadMiner.Tensors.Autodiff;

/// <summary>
/// Differentiable operations on <see cref="Variable"/>s. Each runs the forward kernel, and — only when some input
/// needs a gradient — records a closure on the <see cref="Tape"/> that calls the matching backward kernel and
/// accumulates into the inputs' gradients. Blocks are row-major: the last axis is the feature axis, all leading axes
/// are rows. One file per family of ops (OpsLinear, OpsNorms, …); shared plumbing here.
/// </summary>
public static partial class Ops
{
    /// <summary>A fresh result of <paramref name="shape"/> that needs a gradient when any input does.</summary>
    /// <remarks>Only a result that needs a gradient is taken from the tape's arena: a constant result may be kept by the
    /// caller past the step (nothing is recorded for it), so it is a fresh array.</remarks>
    private static Variable Result(Tape tape, int[] shape, Variable a) => Result(tape, shape, a.RequiresGradient);

    private static Variable Result(Tape tape, int[] shape, Variable a, Variable? b, Variable? c = null) =>
        Result(tape, shape, a.RequiresGradient || (b?.RequiresGradient ?? false) || (c?.RequiresGradient ?? false));

    private static Variable Result(Tape tape, int[] shape, bool requiresGradient) => requiresGradient
        ? new(tape.Zeros(shape), true, tape.Arena)
        : new(Tensor.Zeros(shape), false);

    /// <summary>Size of the last axis (the features of every row).</summary>
    private static int Features(Variable x, string name)
    {
        if (x.Value.Rank == 0) throw new ArgumentException($"{name} is a scalar; expected rows of features", name);
        return x.Value.Dim(-1);
    }

    /// <summary>x's shape with the last axis replaced.</summary>
    private static int[] WithFeatures(Variable x, int features)
    {
        var shape = x.Value.Shape.ToArray();
        shape[^1] = features;
        return shape;
    }

    private static void CheckVector(Variable? v, int length, string name)
    {
        if (v is not null && (v.Value.Rank != 1 || v.Value.Length != length))
            throw new ArgumentException($"{name} has shape {v.Value.ShapeString}, expected [{length}]", name);
    }

    private static void CheckSameShape(Variable a, Variable b, string name)
    {
        if (!a.Value.Shape.SequenceEqual(b.Value.Shape))
            throw new ArgumentException($"{name} has shape {b.Value.ShapeString}, expected {a.Value.ShapeString}", name);
    }
}
