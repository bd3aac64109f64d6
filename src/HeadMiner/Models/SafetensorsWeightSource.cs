using HeadMiner.Models.Formats;
using HeadMiner.Tensors;

namespace HeadMiner.Models;

/// <summary>A Hugging Face checkpoint's safetensors (single or sharded) as an <see cref="IWeightSource"/>.</summary>
public sealed class SafetensorsWeightSource(SafetensorsCheckpoint checkpoint) : IWeightSource
{
    /// <summary>The one safetensors file, or the index of a sharded checkpoint: what an error about the weights should name.</summary>
    public string Source => checkpoint.Files.Count == 1 ? checkpoint.Files[0].Path : System.IO.Path.Combine(checkpoint.Path, SafetensorsCheckpoint.IndexFileName);
    public string FileOf(string name) => checkpoint.Contains(name) ? checkpoint.FileOf(name).Path : Source;
    public IReadOnlyCollection<string> Names => [.. checkpoint.TensorNames];
    public bool Contains(string name) => checkpoint.Contains(name);
    /// <summary>F32 as a view over the mapping; F16/BF16 as a 16-bit tensor over it (<see cref="Tensor.Half"/>): never widened here.</summary>
    public Tensor Get(string name) => checkpoint.Get(name);
    public void Dispose() => checkpoint.Dispose();
}
