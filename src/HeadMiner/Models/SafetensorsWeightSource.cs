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
    public void Dispose() => checkpoint.Dispose();
}
