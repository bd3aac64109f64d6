using HeadMiner.Tensors;

namespace HeadMiner.Models;

/// <summary>An <see cref="IWeightSource"/> over tensors already in memory (tests, freshly trained or generated models).</summary>
public sealed class InMemoryWeights(string source, IReadOnlyDictionary<string, Tensor> tensors) : IWeightSource
{
    public string Source { get; } = source;
    public IReadOnlyCollection<string> Names => tensors.Keys.ToArray();
    public bool Contains(string name) => tensors.ContainsKey(name);

    public Tensor Get(string name) => tensors.TryGetValue(name, out var t)
        ? t
        : throw new HeadMinerException($"{Source}: no tensor named \"{name}\"");

    public void Dispose() { }
}
