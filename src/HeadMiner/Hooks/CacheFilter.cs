using HeadMiner.Models;

namespace HeadMiner.Hooks;

/// <summary>
/// What an <see cref="ActivationCache"/> stores: hook points (by name set or predicate), optionally only some layers
/// and some token positions, optionally in half precision. Caching everything is what runs users out of memory;
/// a filter keeps exactly what an analysis needs.
/// </summary>
public sealed record CacheFilter
{
    private readonly Func<HookName, bool> _predicate;

    private CacheFilter(Func<HookName, bool> predicate) => _predicate = predicate;

    /// <summary>Only these layers (points outside blocks are kept when named).</summary>
    public IReadOnlySet<int>? Layers { get; init; }

    /// <summary>Only these token positions (the T axis; the query axis of scores and patterns).</summary>
    public int[]? Positions { get; init; }

    /// <summary>Store as IEEE half (float16): half the memory, ~3 significant digits.</summary>
    public bool HalfPrecision { get; init; }

    /// <summary>Every hook point of the model's default set (everything TransformerLens caches by default, i.e. not q/k/v or MLP inputs or per-head results).</summary>
    public static CacheFilter All() => new(h => h.Site is not (ActivationSite.QInput or ActivationSite.KInput or ActivationSite.VInput or ActivationSite.MlpIn or ActivationSite.Result));

    /// <summary>Exactly these TransformerLens names (validated against <paramref name="config"/>).</summary>
    public static CacheFilter Names(ModelConfig config, params string[] names)
    {
        var set = names.Select(n => HookName.Parse(n, config)).ToHashSet();
        return new(set.Contains);
    }

    public static CacheFilter Of(params HookName[] hooks)
    {
        var set = hooks.ToHashSet();
        return new(set.Contains);
    }

    public static CacheFilter Where(Func<HookName, bool> predicate) => new(predicate);

    public bool Includes(HookName hook) =>
        _predicate(hook) && (Layers is null || hook.Layer < 0 || Layers.Contains(hook.Layer));
}
