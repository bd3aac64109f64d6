using System.Globalization;
using System.Numerics.Tensors;
using Tensor = HeadMiner.Tensors.Tensor;

namespace HeadMiner.Training;

/// <summary>
/// Finds the first NaN or ±∞ in a tensor and describes it with its index, so that a refusal can name the tensor and
/// the element ("[3, 17] is NaN"). Training uses it to refuse resuming from, and writing, a state that is not finite:
/// one NaN in a weight or an optimizer moment spreads to every weight within a step or two.
/// </summary>
internal static class NonFiniteValues
{
    /// <summary>The flat index of the first non-finite element, or −1 when every element is finite.</summary>
    public static int FirstIndex(ReadOnlySpan<float> values)
    {
        // The usual case (all finite) is answered by one vectorised pass: the largest magnitude is NaN if any element
        // is NaN and +∞ if any is ±∞ (it ran 2–3× faster than TensorPrimitives.IsFiniteAll on the embedded model's
        // state, a check the trainer makes every step). Only a bad tensor is scanned a second time, for the index.
        if (values.IsEmpty || float.IsFinite(TensorPrimitives.MaxMagnitude(values))) return -1;
        for (int i = 0; i < values.Length; i++)
        {
            if (!float.IsFinite(values[i])) return i;
        }
        return -1;
    }

    /// <summary>"[i, j] is NaN" for the first non-finite element of <paramref name="tensor"/>, or null when it is finite.</summary>
    public static string? Describe(Tensor tensor)
    {
        var values = tensor.IsContiguous ? tensor.Span : tensor.Contiguous().Span;
        int index = FirstIndex(values);
        if (index < 0) return null;
        return $"{IndexText(tensor.Shape, index)} is {Text(values[index])}";
    }

    /// <summary>A value for a message: NaN, Infinity or -Infinity as the CSV writes them, finite ones to 6 digits.</summary>
    public static string Text(double value) => value.ToString("G6", CultureInfo.InvariantCulture);

    /// <summary>The row-major multi-index of flat index <paramref name="index"/>, e.g. "[3, 17]".</summary>
    private static string IndexText(ReadOnlySpan<int> shape, int index)
    {
        var parts = new int[shape.Length];
        for (int d = shape.Length - 1; d >= 0; d--)
        {
            parts[d] = index % shape[d];
            index /= shape[d];
        }
        return "[" + string.Join(", ", parts) + "]";
    }
}
