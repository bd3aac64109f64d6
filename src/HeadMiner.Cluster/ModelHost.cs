using System.Collections.Concurrent;
using HeadMiner.Models;

namespace HeadMiner.Cluster;

/// <summary>
/// The models one silo has loaded: each once (mapped, read-only; every unit of every run on this silo shares it),
/// with its file fingerprint, which must equal the run's — a worker whose files differ is an error, not a silently
/// mixed result.
/// </summary>
public sealed class ModelHost : IDisposable
{
    private readonly ConcurrentDictionary<(string Model, bool Process, bool WeightsOnly, bool AllowUnused), Lazy<(LoadedModel Model, string Fingerprint)>> _models = new();
    private readonly Func<string, string> _resolve;

    /// <param name="resolve">Turns a run's model argument into a path here (a hub id through this machine's cache).</param>
    public ModelHost(Func<string, string> resolve) => _resolve = resolve;

    public string Name { get; init; } = Environment.MachineName;

    public LoadedModel Get(RunSpec run)
    {
        var key = (run.Model, run.Process, run.WeightsOnly, run.AllowUnused);
        var entry = _models.GetOrAdd(key, k => new Lazy<(LoadedModel, string)>(() =>
        {
            string path = _resolve(k.Model);
            var loaded = ModelLoader.Load(path, new LoadOptions
            {
                WeightsOnly = k.WeightsOnly,
                AllowUnused = k.AllowUnused,
                Processing = k.Process ? WeightProcessing.TransformerLensDefault : WeightProcessing.None,
            });
            return (loaded, ModelFingerprint.Of(path));
        }));
        (LoadedModel model, string fingerprint) value;
        try
        {
            value = entry.Value;
        }
        catch (HeadMinerException)
        {
            // A load that failed is not cached: the files may be fixed before the next unit.
            _models.TryRemove(key, out _);
            throw;
        }
        if (value.fingerprint != run.Fingerprint)
            throw new HeadMinerException($"worker {Name}: model {run.Model} ({value.model.Path}) has fingerprint {value.fingerprint}, " +
                $"but the run's is {run.Fingerprint}: every worker needs the same model files");
        return value.model;
    }

    public void Dispose()
    {
        foreach (var entry in _models.Values)
            if (entry.IsValueCreated) entry.Value.Model.Dispose();
        _models.Clear();
    }
}
