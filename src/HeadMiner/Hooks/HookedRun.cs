using HeadMiner.Models;

namespace HeadMiner.Hooks;

/// <summary>Running a model with hooks and caches: TransformerLens's run_with_hooks / run_with_cache.</summary>
public static class HookedRun
{
    /// <summary>
    /// One forward pass recording what <paramref name="filter"/> names; extra <paramref name="hooks"/> run first (so the
    /// cache sees their edits). <paramref name="uncappedLogits"/> leaves out a final-logit soft cap (<see cref="ForwardOptions.UncappedLogits"/>).
    /// </summary>
    public static (ForwardResult Result, ActivationCache Cache) RunWithCache(this Transformer model, TokenBatch batch, CacheFilter filter, HookSet? hooks = null,
        bool lastOnly = false, bool uncappedLogits = false)
    {
        var cache = new ActivationCache(model, filter);
        var combined = new HookSet(model.Config).Include(hooks ?? new HookSet(model.Config)).Include(cache);
        var result = model.Run(batch, new ForwardOptions { Hooks = combined, LastOnly = lastOnly, UncappedLogits = uncappedLogits });
        return (result, cache);
    }

    public static (ForwardResult Result, ActivationCache Cache) RunWithCache(this Transformer model, ReadOnlySpan<int> tokens, CacheFilter filter) =>
        model.RunWithCache(TokenBatch.Single(tokens), filter);

    /// <summary>One forward pass with <paramref name="hooks"/>; logits [B, T or 1, vocab].</summary>
    public static Tensors.Tensor RunWithHooks(this Transformer model, TokenBatch batch, HookSet hooks, bool lastOnly = false) =>
        model.Run(batch, new ForwardOptions { Hooks = hooks, LastOnly = lastOnly }).Logits!;
}
