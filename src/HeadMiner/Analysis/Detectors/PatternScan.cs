using HeadMiner.Hooks;
using HeadMiner.Models;
using HeadMiner.Tensors;

namespace HeadMiner.Analysis.Detectors;

/// <summary>
/// Runs prompts through the model and hands each prompt's attention pattern to a visitor, layer by layer.
/// Prompts of equal length share batched forward passes (up to <see cref="DetectorOptions.MaxRowsPerForward"/>
/// token rows); the cache keeps only hook_pattern (stored as its causal triangle) and only the last position is
/// unembedded, so memory is one batch's patterns (plus what <see cref="DetectorContext.Patterns"/> keeps, when set:
/// prompts found there are not run again).
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
        var memo = context.PatternHooks is null && context.Patterns is { } m && m.Model == model ? m : null;
        int done = 0, layers = model.Config.Layers;
        foreach (var group in prompts.Select((p, i) => (Prompt: p, Index: i)).GroupBy(x => x.Prompt.Length))
        {
            int length = group.Key;
            model.CheckLength(length);
            var members = group.ToArray();
            if (memo is not null)
            {
                // Kept prompts are visited first, in order; they are the leading ones when a rerun doubles the prompts,
                // so every visitor still sees the prompts in index order there.
                var missing = new List<(int[] Prompt, int Index)>();
                foreach (var member in members)
                {
                    if (memo.Find(member.Prompt) is not { } kept)
                    {
                        missing.Add(member);
                        continue;
                    }
                    cancel.ThrowIfCancellationRequested();
                    for (int layer = 0; layer < layers; layer++) visit(layer, member.Index, kept[layer]);
                    done++;
                    progress?.Report((double)done / prompts.Count);
                }
                members = [.. missing];
            }
            int perBatch = Math.Max(1, context.Options.MaxRowsPerForward / length);
            for (int first = 0; first < members.Length; first += perBatch)
            {
                cancel.ThrowIfCancellationRequested();
                int n = Math.Min(perBatch, members.Length - first);
                var ids = new int[n * length];
                for (int b = 0; b < n; b++) members[first + b].Prompt.CopyTo(ids, b * length);
                var (_, cache) = model.RunWithCache(new TokenBatch(ids, n, length), filter, context.PatternHooks, lastOnly: true);
                var patterns = new Tensor[layers];
                for (int layer = 0; layer < layers; layer++)
                {
                    var pattern = patterns[layer] = cache[ActivationSite.Pattern, layer];
                    for (int b = 0; b < n; b++) visit(layer, members[first + b].Index, pattern.Select(0, b));
                }
                if (memo is not null)
                    for (int b = 0; b < n; b++) memo.Add(members[first + b].Prompt, [.. patterns.Select(p => p.Select(0, b))]);
                done += n;
                progress?.Report((double)done / prompts.Count);
            }
        }
    }
}
