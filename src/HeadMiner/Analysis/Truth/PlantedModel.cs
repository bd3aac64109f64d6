using HeadMiner.Models;

namespace HeadMiner.Analysis.Truth;

/// <summary>
/// A model whose head roles are known by construction (<see cref="PlantedModels.Create"/>): the runnable transformer,
/// the heads planted in it (every other head is a random distractor) and how it was drawn.
/// </summary>
public sealed record PlantedModel(Transformer Model, IReadOnlyList<PlantedHead> Truth, PlantedSkeleton Skeleton, ulong Seed, Models.Tokenizers.ITokenizer? Tokenizer = null, string Kind = "heads")
{
    public ModelConfig Config => Model.Config;

    /// <summary>Types planted at least once.</summary>
    public IReadOnlySet<string> Types => Truth.Select(t => t.Type).ToHashSet();

    public bool IsPlanted(int layer, int head, string type) => Truth.Any(t => t.Layer == layer && t.Head == head && t.Type == type);

    /// <summary>One line: skeleton, seed, sizes and the planted heads.</summary>
    public string Describe()
    {
        var c = Config;
        return $"{Skeleton} {Kind} seed {Seed}: {c.Layers} layers × {c.Heads} heads ({c.KvHeads} kv), d_model {c.DModel}, d_head {c.DHead}, vocab {c.VocabSize}, context {c.ContextLength}; "
            + string.Join(", ", Truth);
    }

    /// <summary>Atlas model description for <see cref="Atlas.AtlasRunner.Run"/>.</summary>
    public Atlas.AtlasModel AtlasInfo() =>
        Atlas.AtlasModel.InMemory(Model, $"planted-{Kind}-{Skeleton.ToString().ToLowerInvariant()}-{Seed}") with { Path = $"planted:{Kind}:{Skeleton.ToString().ToLowerInvariant()}:{Seed}" };
}
