using System.Text.Json.Nodes;

namespace HeadMiner.Explorer;

/// <summary>
/// Computes a head atlas (docs/ATLAS.md, atlas.json v1) for a model that has no saved one. The atlas runner plugs in
/// here; the explorer itself never invents atlas data.
/// </summary>
public interface IAtlasProvider
{
    /// <summary>The atlas document, or null when this provider cannot make one for the model.</summary>
    Task<JsonObject?> ComputeAsync(ExplorerModel model, IProgress<string>? progress, CancellationToken cancellation);
}
