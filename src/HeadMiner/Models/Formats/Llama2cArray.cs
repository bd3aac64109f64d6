namespace HeadMiner.Models.Formats;

/// <summary>Where one float32 array of a llama2.c checkpoint lies: its name, absolute byte offset and shape.</summary>
public sealed record Llama2cArray(string Name, long ByteOffset, int[] Shape)
{
    public long ElementCount => Shape.Aggregate(1L, (n, d) => n * d);
    public long ByteEnd => ByteOffset + ElementCount * sizeof(float);
}
