using HeadMiner.Hooks;
using HeadMiner.Models;
using HeadMiner.Tensors;

namespace HeadMiner.Analysis.Detectors;

/// <summary>
/// Runs prompts through the model and hands each prompt's attention pattern to a visitor, layer by layer.
/// Prompts of equal length share batched forward passes (up to <see cref="DetectorOptions.MaxRowsPerForward"/>
/// token rows); the cache keeps only hook_pattern (stored as its causal triangle) and only the last position is
/// unembedded, so memory is one batch's patterns.
/// </summary>
public static class PatternScan
{
    /// <summary>
    /// Calls <paramref name="visit"/>(layer, prompt index, pattern [heads, T, T]) for every layer of every prompt.
    /// Progress goes from 0 to 1 over the prompts.
    /// </summary>
    public static void Run(DetectorContext context, IReadOnlyList<int[]> prompts, Action<int, int, Tensor> visit,
        IProgress<double>? progress = null, CancellationToken cancel = default)
    {
        if (context.CannotRunForward() is { } reason) throw new HeadMinerException($"{context.Model.Source}: {reason}");
        var model = context.Model;
        var filter = CacheFilter.Where(h => h.Site == ActivationSite.Pattern);
        int done = 0;
        foreach (var group in prompts.Select((p, i) => (Prompt: p, Index: i)).GroupBy(x => x.Prompt.Length))
        {
            int length = group.Key;
            model.CheckLength(length);
            var members = group.ToArray();
            int perBatch = Math.Max(1, context.Options.MaxRowsPerForward / length);
            for (int first = 0; first < members.Length; first += perBatch)
            {
                cancel.ThrowIfCancellationRequested();
                int n = Math.Min(perBatch, members.Length - first);
                var ids = new int[n * length];
                for (int b = 0; b < n; b++) members[first + b].Prompt.CopyTo(ids, b * length);
                var (_, cache) = model.RunWithCache(new TokenBatch(ids, n, length), filter, context.PatternHooks, lastOnly: true);
                for (int layer = 0; layer < model.Config.Layers; layer++)
                {
                    var pattern = cache[ActivationSite.Pattern, layer];
                    for (int b = 0; b < n; b++) visit(layer, members[first + b].Index, pattern.Select(0, b));
                }
                done += n;
                progress?.Report((double)done / prompts.Count);
            }
        }
    }
}
