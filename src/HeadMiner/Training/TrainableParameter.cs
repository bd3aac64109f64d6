using HeadMiner.Tensors;

namespace HeadMiner.Training;

/// <summary>
/// One tensor an optimizer updates: its current value, the gradient the backward pass accumulated for it, and
/// whether weight decay applies. Biases, norm weights and (often) embeddings are conventionally exempt from decay
/// (<paramref name="Decay"/> = false): shrinking a norm gain towards zero is not regularisation, it is damage.
/// <para>Both tensors must be contiguous and have the same shape; the optimizer updates <paramref name="Value"/> in
/// place and only reads <paramref name="Gradient"/>.</para>
/// </summary>
public sealed record TrainableParameter(string Name, Tensor Value, Tensor Gradient, bool Decay = true)
{
    internal void Validate()
    {
        if (string.IsNullOrEmpty(Name)) throw new ArgumentException("a trainable parameter needs a name");
        if (!Value.Shape.SequenceEqual(Gradient.Shape))
            throw new ArgumentException($"parameter {Name}: value {Value.ShapeString} and gradient {Gradient.ShapeString} differ in shape");
        if (!Value.IsContiguous) throw new ArgumentException($"parameter {Name}: value is a strided view; optimizers update contiguous tensors");
        if (!Gradient.IsContiguous) throw new ArgumentException($"parameter {Name}: gradient is a strided view; optimizers read contiguous tensors");
    }
}
