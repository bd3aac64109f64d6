using HeadMiner.Analysis.Atlas;

namespace HeadMiner.Explorer;

/// <summary>
/// "Computed on demand": runs <see cref="AtlasRunner"/> on a served model with the same defaults as
/// `headminer atlas` (so the page shows what that command would write), fitted to the model's context length — but
/// without the circuits section by default: it would double the wait under the request deadline, and the page's
/// Circuit panel finds a task's circuit when asked (/api/circuit, the same method and pairs).
/// </summary>
public sealed class RunnerAtlasProvider(AtlasOptions? options = null) : IAtlasProvider
{
    private readonly AtlasOptions _options = options ?? new AtlasOptions { Circuits = false };

    public AtlasReport? Compute(ExplorerModel model, IProgress<AtlasProgress>? progress, CancellationToken cancellation)
    {
        var options = _options.ForModel(model.Loaded);
        return AtlasRunner.Run(model.Model, model.Loaded.Tokenizer, AtlasModel.Of(model.Loaded), options, progress, cancellation);
    }
}
