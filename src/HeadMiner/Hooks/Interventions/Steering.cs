using HeadMiner.Models;
using HeadMiner.Tensors;

namespace HeadMiner.Hooks.Interventions;

/// <summary>
/// Directional addition: adds α·v to a head's output at every (or chosen) position — in d_head space at hook_z
/// (before W_O, as Inference-Time Intervention does) or in d_model space at hook_result.
/// </summary>
public static class Steering
{
    public static IDisposable AddToHead(HookSet hooks, int layer, int head, Tensor direction, float alpha, int[]? positions = null, bool residualSpace = false)
    {
        var site = residualSpace ? ActivationSite.Result : ActivationSite.Z;
        var v = direction.Contiguous();
        return hooks.Add(HookName.Of(site, layer), (activation, _) =>
        {
            if (v.Length != activation.Dim(3)) throw new HeadMinerException($"steering vector has {v.Length} values; {site} of a head has {activation.Dim(3)}");
            HeadAblation.ForEachSlice(activation, head, positions, (slice, _, _) =>
            {
                var s = slice.Contiguous();
                System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(v.Span, alpha, s.Span, s.Span);
                if (!ReferenceEquals(s, slice)) s.CopyTo(slice);
            });
        });
    }
}
