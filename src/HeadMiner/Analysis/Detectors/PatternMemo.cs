using HeadMiner.Models;
using HeadMiner.Tensors;

namespace HeadMiner.Analysis.Detectors;

/// <summary>
/// Attention patterns <see cref="PatternScan"/> has already computed in one run of several detectors, per prompt, so
/// detectors that read the same prompts run each forward once: previous-token, duplicate-token and induction scan one
/// seeded set of repeated random tokens, and a detector whose intervals straddle its threshold reruns with twice the
/// prompts, the first half the same. On the Llama-3.2-1B shape each of those scans is a ~10 s forward.
/// <para>
/// Bounded by <see cref="MaxBytes"/> of dense [heads, T, T] patterns: prompts are kept in the order first seen until
/// the bound, later ones are not kept (no eviction: the atlas's shared sets come first). Bound to one model; a scan
/// with <see cref="DetectorContext.PatternHooks"/> (which change the patterns) neither reads nor fills it. A pattern
/// is a function of its prompt alone (the batched forward computes every row and sequence independently), so a hit
/// is bit for bit what the forward would give.
/// </para>
/// </summary>
public sealed class PatternMemo(Transformer model, long maxBytes = PatternMemo.DefaultMaxBytes)
{
    /// <summary>256 MiB: 16 prompts of 51 tokens on a 16-layer, 32-head model are 85 MiB.</summary>
    public const long DefaultMaxBytes = 256L << 20;

    private readonly Dictionary<int[], Tensor[]> _patterns = new(PromptComparer.Instance);

    public Transformer Model { get; } = model;

    public long MaxBytes { get; } = maxBytes;

    /// <summary>Bytes of patterns kept.</summary>
    public long Bytes { get; private set; }

    /// <summary>Prompts served from the memo instead of a forward.</summary>
    public int Hits { get; private set; }

    /// <summary>The per-layer patterns [heads, T, T] of <paramref name="prompt"/>, or null when it was not kept.</summary>
    public Tensor[]? Find(int[] prompt)
    {
        if (!_patterns.TryGetValue(prompt, out var layers)) return null;
        Hits++;
        return layers;
    }

    /// <summary>Keeps copies of <paramref name="prompt"/>'s per-layer patterns if they fit the bound.</summary>
    public void Add(int[] prompt, IReadOnlyList<Tensor> perLayer)
    {
        if (_patterns.ContainsKey(prompt)) return;
        long bytes = perLayer.Sum(p => (long)p.Length * sizeof(float));
        if (Bytes + bytes > MaxBytes) return;
        _patterns[(int[])prompt.Clone()] = [.. perLayer.Select(p => p.Clone())];
        Bytes += bytes;
    }

    private sealed class PromptComparer : IEqualityComparer<int[]>
    {
        public static readonly PromptComparer Instance = new();

        public bool Equals(int[]? x, int[]? y) => x is not null && y is not null && x.AsSpan().SequenceEqual(y);

        public int GetHashCode(int[] ids)
        {
            var hash = new HashCode();
            hash.AddBytes(System.Runtime.InteropServices.MemoryMarshal.AsBytes(ids.AsSpan()));
            return hash.ToHashCode();
        }
    }
}
