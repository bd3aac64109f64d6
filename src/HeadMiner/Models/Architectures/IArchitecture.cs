namespace HeadMiner.Models.Architectures;

/// <summary>
/// One model family: how its config.json maps onto <see cref="ModelConfig"/> and how its tensor names and layouts
/// map onto TransformerLens's canonical weights. A new architecture is one file implementing this plus one line in
/// <see cref="ArchitectureRegistry"/>; the forward pass itself is shared (<see cref="Transformer"/>).
/// </summary>
public interface IArchitecture
{
    /// <summary>The config.json model_type values this file handles.</summary>
    IReadOnlyList<string> ModelTypes { get; }

    /// <summary>Prefixes tensor names may carry (e.g. "transformer." when saved from GPT2LMHeadModel, none from GPT2Model).</summary>
    IReadOnlyList<string> Prefixes => [""];

    ModelConfig ParseConfig(HfConfig config);

    /// <summary>One block's weights (per-layer so a compact half-precision model can convert a layer when it runs).</summary>
    LayerWeights LoadLayer(ModelConfig config, WeightReader weights, int layer);

    /// <summary>Embeddings, final norm and unembedding around the given blocks.</summary>
    TransformerWeights LoadGlobals(ModelConfig config, WeightReader weights, LayerWeights[] blocks);

    TransformerWeights LoadWeights(ModelConfig config, WeightReader weights) =>
        LoadGlobals(config, weights, [.. Enumerable.Range(0, config.Layers).Select(l => LoadLayer(config, weights, l))]);
}
