using System.Collections.Concurrent;
using System.Text.Json.Nodes;

namespace HeadMiner.Explorer;

/// <summary>
/// Where a model's atlas comes from: the saved file read at start-up, else the on-demand provider (computed once per
/// model and kept), else nothing — and then the page says so; no atlas data is ever made up here.
/// </summary>
public sealed class AtlasSource(IAtlasProvider? onDemand)
{
    public const string Missing = "no atlas for this model: run headminer atlas, then serve the model with --atlas FILE (or put atlas.json in the model directory)";

    private readonly ConcurrentDictionary<string, Lazy<Task<JsonObject?>>> _computed = new(StringComparer.Ordinal);

    public async Task<JsonObject> GetAsync(ExplorerModel model, CancellationToken cancellation)
    {
        if (model.SavedAtlas is { } saved) return saved;
        if (onDemand is null) throw ApiException.NotFound(Missing);
        // The computation is shared by every request for this model, so one client going away must not cancel it.
        var task = _computed.GetOrAdd(model.Id, _ => new Lazy<Task<JsonObject?>>(() => Task.Run(async () =>
        {
            var atlas = await onDemand.ComputeAsync(model, null, CancellationToken.None);
            return atlas is null ? null : AtlasFile.Validate(atlas, model.Config, $"atlas computed for {model.Id}");
        }))).Value;
        try
        {
            return await task.WaitAsync(cancellation) ?? throw ApiException.NotFound(Missing);
        }
        catch (Exception e) when (e is not OperationCanceledException and not ApiException)
        {
            _computed.TryRemove(model.Id, out _); // let a later request try again
            throw;
        }
    }
}
