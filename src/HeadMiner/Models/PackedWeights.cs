using System.Collections.Concurrent;
using HeadMiner.Tensors.Kernels;

namespace HeadMiner.Models;

/// <summary>
/// One model's float32 weight matrices packed for the GEMM's micro-kernel (<see cref="PackedGemmB"/>), each packed on
/// its second product of 2 to <see cref="MaxRows"/> rows and reused by every later one. Bounded by a byte budget: past it,
/// weights stay unpacked (the GEMM packs them per call, as before). 16-bit weights are never packed here (the GEMM
/// widens them while packing, and a float32 copy would double the checkpoint).
/// </summary>
/// <remarks>
/// The packed copies are snapshots: code that edits a weight in place must call <see cref="Transformer.WeightsChanged"/>
/// afterwards. Nothing in HeadMiner edits a loaded model's weights after its first forward (weight processing runs at
/// load, training builds a new inference model per evaluation). Thread-safe: concurrent forwards pack each weight once.
/// </remarks>
internal sealed class PackedWeights
{
    /// <summary>
    /// Products of more rows than this pack per call, as before: the packing then serves enough tiles that packing once
    /// saves nothing measurable. GPT-2 small's forward with its weights packed once, against packing per product
    /// (`bench forward-profile --compare-packing`, medians of 15–21 alternating pairs, measured with packing at every
    /// row count before this limit): 0.59× at 8 tokens, 0.70–0.80× at 16, 0.80× at 32, 0.96× at 64 and 96, 0.94–1.01×
    /// at 128. So a model run only on long prompts spends no memory on it.
    /// </summary>
    public const int MaxRows = 96;

    /// <summary>The default budget: GPT-2 small's matrices (≈ 500 MB packed) fit; a 1B float32 model's do not all.</summary>
    public const long DefaultBudgetBytes = 1L << 30;

    private readonly record struct Key(ReadOnlyMemory<float> Storage, bool StoredOutIn, int Ld, int In, int Out);

    /// <summary>A weight's products so far, and its packed copy once it has one.</summary>
    private sealed class Entry(PackedWeights owner, Key key)
    {
        public int Uses;
        public readonly Lazy<PackedGemmB?> Packed = new(() => owner.Pack(key));
    }

    private readonly ConcurrentDictionary<Key, Entry> _packed = new();
    private long _reservedBytes;

    public PackedWeights(long budgetBytes) => BudgetBytes = budgetBytes;

    /// <summary>Bytes the packed copies may take (0: never pack).</summary>
    public long BudgetBytes { get; set; }

    /// <summary>Bytes held by packed copies now.</summary>
    public long PackedBytes => _packed.Values.Sum(e => e.Packed.IsValueCreated ? e.Packed.Value?.PackedBytes ?? 0 : 0);

    /// <summary>
    /// op(B) = W (k×n; stored [n, k] when <paramref name="storedOutIn"/>, row stride ld) packed, or null: on the
    /// weight's first product (a command that runs one forward, such as `logits`, spends no memory on copies it would
    /// not reuse; the second product packs it, at the cost of the packing that product would have done anyway), and
    /// when the budget has no room for it (then it is not tried again until <see cref="Clear"/>).
    /// </summary>
    public PackedGemmB? For(ReadOnlyMemory<float> storage, bool storedOutIn, int ld, int k, int n)
    {
        if (BudgetBytes <= 0) return null;
        var entry = _packed.GetOrAdd(new Key(storage, storedOutIn, ld, k, n), static (key, self) => new Entry(self, key), this);
        if (entry.Packed.IsValueCreated) return entry.Packed.Value;
        return Interlocked.Increment(ref entry.Uses) < 2 ? null : entry.Packed.Value;
    }

    private PackedGemmB? Pack(Key key)
    {
        long bytes = PackedGemmB.BytesFor(key.In, key.Out);
        if (Interlocked.Add(ref _reservedBytes, bytes) > BudgetBytes)
        {
            Interlocked.Add(ref _reservedBytes, -bytes);
            return null;
        }
        return PackedGemmB.Pack(key.StoredOutIn, key.In, key.Out, key.Storage, key.Ld);
    }

    /// <summary>Drops every packed copy (after weights changed in place); the next products pack afresh.</summary>
    public void Clear()
    {
        _packed.Clear();
        Interlocked.Exchange(ref _reservedBytes, 0);
    }
}
