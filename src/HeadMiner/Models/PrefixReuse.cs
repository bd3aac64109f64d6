namespace HeadMiner.Models;

/// <summary>
/// Reuse of unhooked prefixes across forward passes of the same tokens: a run whose hooks touch nothing below layer l
/// computes layers 0…l−1 exactly as the clean run of those tokens did, so it can resume at l from that run's resid_pre.
/// Causal checks make many runs of one prompt set that differ only by an ablation at some layer; inside a
/// <see cref="Transformer.ReusePrefixes"/> scope every such run starts at its first hooked layer. The result is bit for
/// bit the full run's: the same blocks run on the same residual stream.
/// <para>Stored: per batch (compared by its tokens and mask), the resid_pre of each layer from 1 up to the first hooked
/// one of the run that computed it, within <see cref="MaxFloats"/> (the least recently used batches make room; a batch
/// that alone fills the budget keeps its lower layers); a run with hooks on the embedding, a KV prefix or a resume
/// point of its own is neither served nor stored.</para>
/// </summary>
public sealed class PrefixReuse(Transformer model, long maxFloats = PrefixReuse.DefaultMaxFloats)
{
    /// <summary>64 Mi floats (256 MiB): a 1B model's 16 layers of 320 token rows take 42 MiB.</summary>
    public const long DefaultMaxFloats = 64L << 20;

    private sealed class Entry(TokenBatch batch)
    {
        public readonly TokenBatch Batch = batch;
        public readonly Dictionary<int, float[]> ResidPre = [];
    }

    private readonly LinkedList<Entry> _entries = new();
    private long _floats;

    public Transformer Model { get; } = model;

    /// <summary>The most floats the stored residuals may take.</summary>
    public long MaxFloats { get; } = maxFloats;

    /// <summary>Blocks not recomputed so far (layers skipped, summed over runs).</summary>
    public long LayersSkipped { get; private set; }

    /// <summary>Blocks run so far by the runs this scope saw.</summary>
    public long LayersRun { get; private set; }

    /// <summary>The first layer whose blocks <paramref name="hooks"/> touch (the layer count when none or only the final norm; 0 when they touch the embedding).</summary>
    public static int FirstHookedLayer(IActivationHooks? hooks, ModelConfig config)
    {
        if (hooks is null) return config.Layers;
        var sites = Enum.GetValues<ActivationSite>();
        // The final norm's sites (layer −1 too) come after every block; only the embedding's precede them.
        if (hooks.Wants(ActivationSite.Embed, -1) || hooks.Wants(ActivationSite.PosEmbed, -1)) return 0;
        for (int l = 0; l < config.Layers; l++)
            foreach (var site in sites)
                if (hooks.Wants(site, l)) return l;
        return config.Layers;
    }

    /// <summary>The deepest stored resid_pre at or below <paramref name="layer"/> for <paramref name="batch"/> (a copy), or null.</summary>
    internal (int Layer, float[] Residual)? Find(TokenBatch batch, int layer)
    {
        var entry = Lookup(batch);
        if (entry is null) return null;
        for (int l = layer; l >= 1; l--)
            if (entry.ResidPre.TryGetValue(l, out var stored)) return (l, (float[])stored.Clone());
        return null;
    }

    /// <summary>Keeps <paramref name="residual"/> as <paramref name="batch"/>'s resid_pre at <paramref name="layer"/> (copied).</summary>
    internal void Store(TokenBatch batch, int layer, float[] residual)
    {
        var entry = Lookup(batch);
        if (entry is not null && entry.ResidPre.ContainsKey(layer)) return;
        // Older batches make room; this batch's own lower layers stay (a run hooked low needs them), so once the
        // budget holds nothing else its higher layers are not kept.
        while (_floats + residual.Length > MaxFloats && _entries.Last is { } last && last.Value != entry)
        {
            _entries.RemoveLast();
            _floats -= last.Value.ResidPre.Values.Sum(r => (long)r.Length);
        }
        if (_floats + residual.Length > MaxFloats) return;
        if (entry is null)
        {
            entry = new Entry(new TokenBatch((int[])batch.Ids.Clone(), batch.Batch, batch.Length, (bool[]?)batch.Mask?.Clone()));
            _entries.AddFirst(entry);
        }
        entry.ResidPre[layer] = (float[])residual.Clone();
        _floats += residual.Length;
    }

    internal void Count(int run, int skipped)
    {
        LayersRun += run;
        LayersSkipped += skipped;
    }

    private Entry? Lookup(TokenBatch batch)
    {
        for (var node = _entries.First; node is not null; node = node.Next)
        {
            var b = node.Value.Batch;
            if (b.Batch == batch.Batch && b.Length == batch.Length && b.Ids.AsSpan().SequenceEqual(batch.Ids)
                && (b.Mask is null ? batch.Mask is null : batch.Mask is not null && b.Mask.AsSpan().SequenceEqual(batch.Mask)))
            {
                // Most recently used first, so the oldest is evicted when the budget is reached.
                _entries.Remove(node);
                _entries.AddFirst(node);
                return node.Value;
            }
        }
        return null;
    }
}

/// <summary>A <see cref="Transformer.ReusePrefixes"/> scope: its <see cref="Reuse"/> counters, and the end of it.</summary>
public sealed class PrefixReuseScope(PrefixReuse reuse, Action end) : IDisposable
{
    private Action? _end = end;

    public PrefixReuse Reuse { get; } = reuse;

    public void Dispose()
    {
        _end?.Invoke();
        _end = null;
    }
}
