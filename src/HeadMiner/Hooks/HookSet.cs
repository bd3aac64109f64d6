using HeadMiner.Models;
using HeadMiner.Tensors;

namespace HeadMiner.Hooks;

/// <summary>A forward hook: reads <paramref name="activation"/> (a view on the live buffer) or writes into it to change the run.</summary>
public delegate void HookFn(Tensor activation, HookName hook);

/// <summary>
/// Hooks for one or more runs, by TransformerLens name or by predicate. Several hooks on one point run in the order
/// added; <see cref="Add(string, HookFn)"/> returns a handle whose Dispose removes that hook. A HookSet can combine
/// others (<see cref="Include"/>) so an intervention and a cache can ride on one run.
/// </summary>
public sealed class HookSet(ModelConfig config) : IActivationHooks
{
    private readonly List<(Func<HookName, bool> Matches, HookFn Fn, object Key)> _hooks = [];
    private readonly List<IActivationHooks> _included = [];

    public ModelConfig Config { get; } = config;

    /// <summary>Adds a hook at one named point (validated now: an unknown name fails before any run).</summary>
    public IDisposable Add(string name, HookFn fn)
    {
        var hook = HookName.Parse(name, Config);
        return Add(h => h == hook, fn);
    }

    public IDisposable Add(HookName hook, HookFn fn) => Add(h => h == hook, fn);

    /// <summary>Adds a hook at every point whose name satisfies <paramref name="predicate"/>.</summary>
    public IDisposable Add(Func<HookName, bool> predicate, HookFn fn)
    {
        var key = new object();
        _hooks.Add((predicate, fn, key));
        return new Removal(() => _hooks.RemoveAll(h => h.Key == key));
    }

    /// <summary>Runs another hook collection (e.g. an <see cref="ActivationCache"/> recorder) after this set's own hooks.</summary>
    public HookSet Include(IActivationHooks other)
    {
        _included.Add(other);
        return this;
    }

    public void Clear()
    {
        _hooks.Clear();
        _included.Clear();
    }

    public bool Wants(ActivationSite site, int layer)
    {
        var name = HookName.Of(site, layer);
        foreach (var h in _hooks)
            if (h.Matches(name)) return true;
        foreach (var other in _included)
            if (other.Wants(site, layer)) return true;
        return false;
    }

    public void Visit(ActivationSite site, int layer, Tensor activation)
    {
        var name = HookName.Of(site, layer);
        foreach (var h in _hooks.ToArray())
            if (h.Matches(name)) h.Fn(activation, name);
        foreach (var other in _included)
            if (other.Wants(site, layer)) other.Visit(site, layer, activation);
    }

    private sealed class Removal(Action remove) : IDisposable
    {
        private Action? _remove = remove;

        public void Dispose()
        {
            _remove?.Invoke();
            _remove = null;
        }
    }
}
