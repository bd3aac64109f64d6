namespace HeadMiner.Tensors.Kernels;

/// <summary>LayerNorm and RMSNorm over the last axis of [rows, dim].</summary>
public static class Norms
{
    /// <summary>
    /// y = (x − mean) / sqrt(var + eps) · weight + bias. An empty weight or bias means "none" (a folded LayerNorm).
    /// If <paramref name="scale"/> is not empty it receives sqrt(var + eps) per row (TransformerLens's hook_scale).
    /// x and y may be the same span.
    /// </summary>
    public static void LayerNorm(ReadOnlySpan<float> x, Span<float> y, int rows, int dim,
        ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, float eps, Span<float> scale = default)
    {
        for (int r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * dim, dim);
            var yr = y.Slice(r * dim, dim);
            double mean = 0;
            foreach (float v in xr) mean += v;
            mean /= dim;
            double var = 0;
            foreach (float v in xr) var += (v - mean) * (v - mean);
            var /= dim;
            float s = (float)Math.Sqrt(var + eps);
            if (!scale.IsEmpty) scale[r] = s;
            for (int j = 0; j < dim; j++)
            {
                float v = (float)((xr[j] - mean) / s);
                if (!weight.IsEmpty) v *= weight[j];
                if (!bias.IsEmpty) v += bias[j];
                yr[j] = v;
            }
        }
    }

    /// <summary>y = x / sqrt(mean(x²) + eps) · weight. <paramref name="scale"/> (optional) receives sqrt(mean(x²) + eps).</summary>
    public static void RmsNorm(ReadOnlySpan<float> x, Span<float> y, int rows, int dim,
        ReadOnlySpan<float> weight, float eps, Span<float> scale = default)
    {
        for (int r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * dim, dim);
            var yr = y.Slice(r * dim, dim);
            double ss = 0;
            foreach (float v in xr) ss += (double)v * v;
            float s = (float)Math.Sqrt(ss / dim + eps);
            if (!scale.IsEmpty) scale[r] = s;
            for (int j = 0; j < dim; j++) yr[j] = xr[j] / s * (weight.IsEmpty ? 1f : weight[j]);
        }
    }
}
