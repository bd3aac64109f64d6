using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using HeadMiner.Analysis.Atlas;
using HeadMiner.Tensors.Json;

namespace HeadMiner.Explorer;

/// <summary>
/// Where a model's atlas comes from: the saved file read at start-up, else the on-demand provider, else nothing — and
/// then the page says so; no atlas data is ever made up here. An on-demand atlas is computed once per model, shared by
/// every request that asks meanwhile (one client going away does not stop it), takes one compute slot, and is stopped
/// at the request deadline; a failed or stopped computation is forgotten so a later request can try again. Its
/// progress (which detector, which phase) is readable while it runs, for the page's progress line.
/// </summary>
public sealed class AtlasSource(IAtlasProvider? onDemand, ComputeGate gate, TimeSpan deadline)
{
    // Cancelled when the server shuts down: a computation must end before the models it reads are disposed (their
    // weights are memory-mapped; reading them after the unmap is an access violation, not an exception).
    private readonly CancellationTokenSource _shutdown = new();

    public const string Missing = "no atlas for this model: run headminer atlas, then serve the model with --atlas FILE (or put atlas.json in the model directory)";

    private readonly ConcurrentDictionary<string, Lazy<Computation>> _computed = new(StringComparer.Ordinal);

    public bool OnDemand => onDemand is not null;

    public async Task<JsonElement> GetAsync(ExplorerModel model, CancellationToken cancellation)
    {
        if (model.SavedAtlasJson is { } saved) return saved;
        if (onDemand is null) throw ApiException.NotFound(Missing);
        var computation = _computed.GetOrAdd(model.Id, _ => new Lazy<Computation>(() => Start(model, onDemand))).Value;
        try
        {
            return await computation.Result.WaitAsync(cancellation) ?? throw ApiException.NotFound(Missing);
        }
        catch (OperationCanceledException)
        {
            // This request's deadline passed (the computation's own, started a little later, follows it).
            throw TooLong(model);
        }
    }

    private ApiException TooLong(ExplorerModel model) => new(503, string.Create(CultureInfo.InvariantCulture,
        $"computing the atlas of {model.Id} took longer than {deadline.TotalSeconds:0.#} s and was cancelled; run headminer atlas -m MODEL -o DIR, then serve the model with --atlas DIR/atlas.json"));

    /// <summary>The page polls this while it waits for an on-demand atlas.</summary>
    public object Progress(ExplorerModel model)
    {
        string state = model.SavedAtlasJson is not null ? "saved" : onDemand is null ? "none" : "not_started";
        if (!_computed.TryGetValue(model.Id, out var lazy) || !lazy.IsValueCreated) return new { model = model.Id, state };
        var c = lazy.Value;
        var p = c.Latest;
        return new
        {
            model = model.Id,
            state = c.Result.IsCompletedSuccessfully ? "done" : "running",
            elapsed_s = Math.Round(c.Clock.Elapsed.TotalSeconds, 2),
            detector = p?.DetectorId,
            index = p?.Index,
            count = p?.Count,
            phase = p?.Phase,
        };
    }

    private Computation Start(ExplorerModel model, IAtlasProvider provider)
    {
        var computation = new Computation();
        computation.Result = Task.Run(async () =>
        {
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(_shutdown.Token);
            stop.CancelAfter(deadline);
            try
            {
                var atlas = await gate.RunAsync(ct => provider.Compute(model, computation, ct), stop.Token);
                if (atlas is null) return (JsonElement?)null;
                return FiniteJson.SerializeToElement(AtlasFile.CheckFits(atlas, model.Config, $"atlas computed for {model.Id}"), AtlasReport.Json);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                Forget(model.Id, computation);
                throw TooLong(model);
            }
            catch (Hooks.NonFiniteForwardException e)
            {
                Forget(model.Id, computation);
                throw new ApiException(422, $"cannot compute the atlas of {model.Id}: {e.Message}");
            }
            catch (HeadMinerException e)
            {
                Forget(model.Id, computation);
                throw new ApiException(500, $"computing the atlas of {model.Id} failed: {e.Message}");
            }
            catch
            {
                Forget(model.Id, computation);
                throw;
            }
        });
        return computation;
    }

    /// <summary>Stops every on-demand computation and waits until each has ended (the server calls it before disposing the models).</summary>
    public async Task StopAsync()
    {
        await _shutdown.CancelAsync();
        var running = _computed.Values.Where(l => l.IsValueCreated).Select(l => l.Value.Result).ToArray();
        try
        {
            await Task.WhenAll(running);
        }
        catch (Exception)
        {
            // Cancelled or failed: either way it has ended, which is all shutting down needs.
        }
    }

    private void Forget(string id, Computation computation)
    {
        if (_computed.TryGetValue(id, out var lazy) && lazy.IsValueCreated && ReferenceEquals(lazy.Value, computation))
            _computed.TryRemove(new KeyValuePair<string, Lazy<Computation>>(id, lazy));
    }

    /// <summary>One on-demand computation: its result and the last progress report the runner made.</summary>
    private sealed class Computation : IProgress<AtlasProgress>
    {
        private volatile AtlasProgress? _latest;

        public Task<JsonElement?> Result { get; set; } = null!;

        public Stopwatch Clock { get; } = Stopwatch.StartNew();

        public AtlasProgress? Latest => _latest;

        public void Report(AtlasProgress value) => _latest = value;
    }
}
