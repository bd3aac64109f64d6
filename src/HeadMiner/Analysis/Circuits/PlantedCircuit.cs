using HeadMiner.Analysis.Truth;
using HeadMiner.Tasks;

namespace HeadMiner.Analysis.Circuits;

/// <summary>
/// A model with a circuit known by construction (<see cref="PlantedCircuits"/>): the model, the prompt pairs whose
/// clean → corrupted change the circuit carries, the metric, the true edges (by <see cref="CircuitGraph"/> name) and
/// nodes, and decoy heads: heads that attend the way circuit heads do but write nowhere the metric reads.
/// </summary>
public sealed record PlantedCircuit(
    string Kind,
    PlantedModel Planted,
    TokenizedPairs Pairs,
    MetricKind Metric,
    IReadOnlySet<string> Edges,
    IReadOnlySet<string> Nodes,
    IReadOnlyList<string> Decoys)
{
    public Models.Transformer Model => Planted.Model;

    /// <summary>"induction gpt2 seed 3: 3 layers × 5 heads …" and the true edges.</summary>
    public string Describe()
    {
        var c = Model.Config;
        return $"{Kind} {Planted.Skeleton.ToString().ToLowerInvariant()} seed {Planted.Seed}: {c.Layers} layers × {c.Heads} heads ({c.KvHeads} kv), d_model {c.DModel}; "
            + $"edges {string.Join(", ", Edges.Order(StringComparer.Ordinal))}; decoys {string.Join(", ", Decoys)}";
    }

    /// <summary>Short id: "induction-gpt2-3".</summary>
    public string Id => $"{Kind}-{Planted.Skeleton.ToString().ToLowerInvariant()}-{Planted.Seed}";
}
