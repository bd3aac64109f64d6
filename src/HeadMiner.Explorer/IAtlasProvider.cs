using HeadMiner.Analysis.Atlas;

namespace HeadMiner.Explorer;

/// <summary>
/// Computes a head atlas (docs/ATLAS.md) for a model that has no saved one; <see cref="RunnerAtlasProvider"/> runs
/// the library's atlas runner. The explorer itself never invents atlas data.
/// </summary>
public interface IAtlasProvider
{
    /// <summary>The atlas, or null when this provider cannot make one for the model.</summary>
    AtlasReport? Compute(ExplorerModel model, IProgress<AtlasProgress>? progress, CancellationToken cancellation);
}
