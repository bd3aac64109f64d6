namespace HeadMiner.Tensors;

/// <summary>The two 16-bit float formats checkpoints store: bfloat16 (the top half of a float32) and IEEE binary16.</summary>
public enum HalfFormat
{
    BFloat16,
    Float16,
}
