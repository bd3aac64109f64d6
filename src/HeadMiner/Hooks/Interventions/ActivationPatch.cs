using HeadMiner.Models;
using HeadMiner.Tensors;

namespace HeadMiner.Hooks.Interventions;

/// <summary>
/// Activation patching from another run: at one hook point, copy the other run's activation in — all of it, or one
/// head (axis 2 of [B, T, H, …] and axis 1 of [B, H, T, T]) and/or some positions.
/// </summary>
public static class ActivationPatch
{
    public static IDisposable FromCache(HookSet hooks, HookName hook, ActivationCache source, int? head = null, int[]? positions = null)
    {
        var donor = source.Get(hook);
        return hooks.Add(hook, (activation, _) =>
        {
            if (!donor.Shape.SequenceEqual(activation.Shape))
                throw new HeadMinerException($"cannot patch {hook}: the source run's activation is {donor.ShapeString}, this run's is {activation.ShapeString}");
            Copy(donor, activation, hook.Site, head, positions);
        });
    }

    /// <summary>Copies the selected part of <paramref name="source"/> into <paramref name="target"/> (same shapes).</summary>
    public static void Copy(Tensor source, Tensor target, ActivationSite site, int? head, int[]? positions)
    {
        bool headsFirst = site is ActivationSite.AttnScores or ActivationSite.Pattern; // [B, H, T, T]
        int headAxis = headsFirst ? 1 : 2, positionAxis = headsFirst ? 2 : 1;
        if (head is int h)
        {
            if (target.Rank <= headAxis) throw new HeadMinerException($"{site} has no head axis to patch one head of");
            source = source.Slice(headAxis, h, 1);
            target = target.Slice(headAxis, h, 1);
        }
        if (positions is null)
        {
            source.CopyTo(target);
            return;
        }
        foreach (int p in positions) source.Slice(positionAxis, p, 1).CopyTo(target.Slice(positionAxis, p, 1));
    }
}
