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
    public Tensor Get(string name) => checkpoint.GetFloat32(name);

    /// <summary>Whether any tensor is stored as F16 or BF16 (and so is converted when read).</summary>
    public bool HasHalfPrecision => checkpoint.TensorNames.Any(n => checkpoint.Info(n).DType.IsHalf());
    public void Dispose() => checkpoint.Dispose();
}
