using HeadMiner.Tensors;
using HeadMiner.Tensors.Kernels;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;

namespace HeadMiner.Models;

/// <summary>
/// QK-norm (<see cref="ModelConfig.QkNorm"/>): the RMSNorm a Qwen3 or OLMo-2 attention applies to its queries or keys
/// after the projection and before rotary. It runs in place on one block of the fused q|k|v buffer (rows of
/// <c>width</c> values, the block's heads·d_head columns starting at <c>column</c>). Per head (Qwen3) every head's
/// d_head values are one norm group; over the whole projection (OLMo-2) a row's heads·d_head values are one group.
/// The hook points mirror the block norms' (docs/HOOKS.md): <c>hook_scale</c> gets one value per group and may be
/// rewritten (the group is then rescaled), <c>hook_normalized</c> gets the values before the weight.
/// </summary>
internal static class QkNormalization
{
    public static void Apply(Span<float> qkv, int rows, int width, int column, int heads, int dHead, Tensor weight, QkNormKind kind, float eps,
        IActivationHooks? hooks, ActivationSite scaleSite, ActivationSite normalizedSite, int layer, int batch)
    {
        int span = heads * dHead;
        int group = kind == QkNormKind.PerHead ? dHead : span;
        int groups = span / group; // per row
        var g = weight.Contiguous().Span;
        bool wantsScale = hooks is not null && hooks.Wants(scaleSite, layer);
        bool wantsNormalized = hooks is not null && hooks.Wants(normalizedSite, layer);
        if (!wantsScale && !wantsNormalized)
        {
            for (int r = 0; r < rows; r++)
            {
                var block = qkv.Slice(r * width + column, span);
                Norms.RmsNorm(block, block, groups, group, g, eps);
            }
            return;
        }

        // Hooked: normalise a contiguous copy without the weight, offer scale and normalised values, then weight it.
        int t = rows / batch;
        var values = new float[rows * span];
        var scale = new float[rows * groups];
        for (int r = 0; r < rows; r++)
            Norms.RmsNorm(qkv.Slice(r * width + column, span), values.AsSpan(r * span, span), groups, group, default, eps, scale.AsSpan(r * groups, groups));
        if (wantsScale)
        {
            // normalised = x / scale, so a rewritten scale rescales its group by old/new (as the block norms do).
            var before = (float[])scale.Clone();
            int[] shape = kind == QkNormKind.PerHead ? [batch, t, heads, 1] : [batch, t, 1];
            hooks!.Visit(scaleSite, layer, Tensor.FromMemory(scale.AsMemory(), shape));
            for (int i = 0; i < scale.Length; i++)
                if (scale[i] != before[i]) TensorPrimitives.Multiply(values.AsSpan(i * group, group), before[i] / scale[i], values.AsSpan(i * group, group));
        }
        if (wantsNormalized) hooks!.Visit(normalizedSite, layer, Tensor.FromMemory(values.AsMemory(), batch, t, heads, dHead));
        for (int i = 0; i < rows * groups; i++) TensorPrimitives.Multiply(values.AsSpan(i * group, group), g, values.AsSpan(i * group, group));
        for (int r = 0; r < rows; r++) values.AsSpan(r * span, span).CopyTo(qkv.Slice(r * width + column, span));
    }
}
