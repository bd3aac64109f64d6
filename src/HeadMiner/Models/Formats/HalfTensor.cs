using HeadMiner.Tensors;

namespace HeadMiner.Models.Formats;

/// <summary>
/// A row-major tensor of 16-bit floats (F16 or BF16) kept in its stored form, usually straight over a memory-mapped
/// checkpoint, so a model can hold BF16/F16 weights at half the memory and widen rows to float32 when it uses them.
/// </summary>
public sealed class HalfTensor
{
    private readonly int[] _shape;

    public HalfTensor(Memory<ushort> storage, SafetensorsDType dtype, params int[] shape)
    {
        if (!dtype.IsHalf()) throw new ArgumentException($"{dtype} is not a 16-bit float type", nameof(dtype));
        long n = 1;
        foreach (int d in shape)
        {
            if (d < 0) throw new ArgumentException($"negative dimension in shape {Tensor.Format(shape)}", nameof(shape));
            n *= d;
        }
        if (n > storage.Length) throw new ArgumentException($"buffer of {storage.Length} values is too small for shape {Tensor.Format(shape)}", nameof(storage));
        Storage = storage[..(int)n];
        DType = dtype;
        _shape = (int[])shape.Clone();
    }

    /// <summary>The stored bit patterns, row-major.</summary>
    public Memory<ushort> Storage { get; }

    /// <summary><see cref="SafetensorsDType.F16"/> or <see cref="SafetensorsDType.BF16"/>.</summary>
    public SafetensorsDType DType { get; }

    public ReadOnlySpan<int> Shape => _shape;
    public int Length => Storage.Length;
    public string ShapeString => Tensor.Format(_shape);

    /// <summary>Widens elements [<paramref name="start"/>, start + destination.Length) into <paramref name="destination"/>.</summary>
    public void ConvertTo(int start, Span<float> destination)
    {
        var source = Storage.Span.Slice(start, destination.Length);
        if (DType == SafetensorsDType.BF16) HalfPrecision.Bf16ToFloat(source, destination);
        else HalfPrecision.F16ToFloat(source, destination);
    }

    /// <summary>The same data as a 16-bit <see cref="Tensor"/> (no copy, no widening): what a model's weights are.</summary>
    public Tensor AsTensor() => Tensor.FromHalf(new HalfStorage(Storage, DType.HalfFormat()), _shape);

    /// <summary>A new float32 tensor of the same shape holding the widened values.</summary>
    public Tensor ToFloat()
    {
        var result = Tensor.Zeros(_shape);
        ConvertTo(0, result.Span);
        return result;
    }
}
