using HeadMiner.Tensors;

namespace HeadMiner.Models;

/// <summary>Named tensors from a checkpoint (one safetensors file, a sharded set, a llama2.c file).</summary>
public interface IWeightSource : IDisposable
{
    /// <summary>Where the tensors come from, for error messages (a path).</summary>
    string Source { get; }

    IReadOnlyCollection<string> Names { get; }

    bool Contains(string name);

    /// <summary>The file holding tensor <paramref name="name"/> (a shard of a sharded checkpoint), for error messages.</summary>
    string FileOf(string name) => Source;

    /// <summary>The tensor without copying: a view over mapped storage, float32 for F32 data and 16-bit (<see cref="Tensor.Half"/>) for F16/BF16.</summary>
    Tensor Get(string name);
}
