using HeadMiner.Models;
using HeadMiner.Tensors;

namespace HeadMiner.Hooks.Interventions;

public enum AblationKind
{
    /// <summary>The head's output (hook_z slice) becomes 0.</summary>
    Zero,

    /// <summary>The head's output becomes its mean over a reference set (per position, or over all positions).</summary>
    Mean,

    /// <summary>The head's output becomes its value on another input (a resampled / corrupted run).</summary>
    Resample,
}

/// <summary>
/// Ablates attention heads by rewriting their slice of hook_z ([B, T, H, d_head]) — what each head sends through
/// W_O — optionally only at some positions. Grouped-query models are fine: z is per query head.
/// </summary>
public static class HeadAblation
{
    /// <summary>Zero-ablates (layer, head) at <paramref name="positions"/> (all when null).</summary>
    public static IDisposable Zero(HookSet hooks, int layer, int head, int[]? positions = null) =>
        hooks.Add(HookName.Of(ActivationSite.Z, layer), (z, _) => ForEachSlice(z, head, positions, (slice, _, _) => slice.Span.Clear()));

    /// <summary>
    /// Replaces (layer, head)'s z by <paramref name="replacement"/>: a [T, d_head] per-position value, or [1, d_head]
    /// broadcast to every position (e.g. a mean from <see cref="MeanOf"/>).
    /// </summary>
    public static IDisposable Replace(HookSet hooks, int layer, int head, Tensor replacement, int[]? positions = null) =>
        hooks.Add(HookName.Of(ActivationSite.Z, layer), (z, _) => ForEachSlice(z, head, positions, (slice, _, t) =>
            replacement.Select(0, replacement.Dim(0) == 1 ? 0 : t).CopyTo(slice)));

    /// <summary>
    /// Resample ablation: (layer, head)'s z on batch row b becomes its z on row source[b] of <paramref name="cache"/>
    /// (a run on other inputs with the same length).
    /// </summary>
    public static IDisposable Resample(HookSet hooks, int layer, int head, ActivationCache cache, int[]? sourceRows = null, int[]? positions = null)
    {
        var source = cache.Get(HookName.Of(ActivationSite.Z, layer));
        return hooks.Add(HookName.Of(ActivationSite.Z, layer), (z, _) =>
        {
            if (source.Dim(1) != z.Dim(1)) throw new HeadMinerException($"resample source has {source.Dim(1)} positions, the run has {z.Dim(1)}");
            ForEachSlice(z, head, positions, (slice, b, t) =>
            {
                int row = sourceRows?[b] ?? b % source.Dim(0);
                source.Select(0, row).Select(0, t).Select(0, head).CopyTo(slice);
            });
        });
    }

    /// <summary>
    /// The mean of (layer, head)'s z in <paramref name="cache"/>: per position [T, d_head], or over all positions
    /// [1, d_head] when <paramref name="perPosition"/> is false.
    /// </summary>
    public static Tensor MeanOf(ActivationCache cache, int layer, int head, bool perPosition = true)
    {
        var z = cache.Get(HookName.Of(ActivationSite.Z, layer));
        int b = z.Dim(0), t = z.Dim(1), dh = z.Dim(3);
        var mean = Tensor.Zeros(perPosition ? t : 1, dh);
        var m = mean.Span;
        for (int bi = 0; bi < b; bi++)
            for (int ti = 0; ti < t; ti++)
                for (int k = 0; k < dh; k++)
                    m[(perPosition ? ti : 0) * dh + k] += z[bi, ti, head, k];
        float n = perPosition ? b : b * t;
        for (int i = 0; i < m.Length; i++) m[i] /= n;
        return mean;
    }

    /// <summary>Calls <paramref name="action"/> with the [d_head] slice of <paramref name="head"/> for each (batch row, position).</summary>
    internal static void ForEachSlice(Tensor z, int head, int[]? positions, Action<Tensor, int, int> action)
    {
        if ((uint)head >= (uint)z.Dim(2)) throw new HeadMinerException($"head {head} is outside the layer's {z.Dim(2)} heads");
        for (int b = 0; b < z.Dim(0); b++)
        {
            var row = z.Select(0, b);
            if (positions is null)
                for (int t = 0; t < z.Dim(1); t++) action(row.Select(0, t).Select(0, head), b, t);
            else
                foreach (int t in positions)
                {
                    if ((uint)t >= (uint)z.Dim(1)) throw new HeadMinerException($"position {t} is outside the {z.Dim(1)} tokens of the run");
                    action(row.Select(0, t).Select(0, head), b, t);
                }
        }
    }
}
