namespace HeadMiner.Models.Formats;

/// <summary>
/// One validated header entry of a safetensors file: its element type, shape, and byte range
/// [<see cref="DataBegin"/>, <see cref="DataEnd"/>) relative to the start of the data section.
/// </summary>
public sealed class SafetensorsTensorInfo
{
    private readonly int[] _shape;

    internal SafetensorsTensorInfo(string name, SafetensorsDType dtype, int[] shape, long dataBegin, long dataEnd)
    {
        Name = name;
        DType = dtype;
        _shape = shape;
        DataBegin = dataBegin;
        DataEnd = dataEnd;
        long n = 1;
        foreach (int d in shape) n *= d; // validated not to overflow before construction
        ElementCount = n;
    }

    public string Name { get; }
    public SafetensorsDType DType { get; }
    public ReadOnlySpan<int> Shape => _shape;
    public long DataBegin { get; }
    public long DataEnd { get; }
    public long ElementCount { get; }
    public long ByteLength => DataEnd - DataBegin;

    /// <summary>A copy of the shape, for APIs that take <c>int[]</c>.</summary>
    public int[] ShapeArray() => (int[])_shape.Clone();

    public override string ToString() => $"{Name}: {DType.HeaderName()} {Tensors.Tensor.Format(_shape)} bytes [{DataBegin}, {DataEnd})";
}
