using HeadMiner.Models.Formats;
using HeadMiner.Tensors;

namespace HeadMiner.Models;

/// <summary>A Hugging Face checkpoint's safetensors (single or sharded) as an <see cref="IWeightSource"/>.</summary>
public sealed class SafetensorsWeightSource(SafetensorsCheckpoint checkpoint) : IWeightSource
{
    public string Source => checkpoint.Path;
    public IReadOnlyCollection<string> Names => [.. checkpoint.TensorNames];
    public bool Contains(string name) => checkpoint.Contains(name);
    public Tensor Get(string name) => checkpoint.GetFloat32(name);

    /// <summary>Whether any tensor is stored as F16 or BF16 (and so is converted when read).</summary>
    public bool HasHalfPrecision => checkpoint.TensorNames.Any(n => checkpoint.Info(n).DType.IsHalf());
    public void Dispose() => checkpoint.Dispose();
}
