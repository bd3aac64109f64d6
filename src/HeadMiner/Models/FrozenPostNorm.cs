using HeadMiner.Tensors;
using HeadMiner.Tensors.Kernels;

namespace HeadMiner.Models;

/// <summary>The two sublayers of a block, for their post-sublayer norms (ln1_post after attention, ln2_post after the MLP).</summary>
public enum Sublayer { Attention, Mlp }

/// <summary>
/// The frozen-scale decomposition of a post-sublayer norm (<see cref="ModelConfig.PostNorm"/>: OLMo-2, Gemma 2/3).
/// In a given run a post-normed sublayer adds g ⊙ centre(out) / s to the residual stream, with s the per-position
/// scale of that run (ln*_post.hook_scale) and centring only for LayerNorm. With s held at its value in that run the
/// map out ↦ g ⊙ centre(out) / s is linear, so the terms of out (each head's z_h·W_O[h], b_O; each neuron's
/// post[n]·W_out[n], b_out) mapped one by one sum exactly to what the sublayer added: the same move direct logit
/// attribution makes for the final norm (<c>ActivationCache.ApplyLnFinal</c>). Without post-norms every map here is
/// the identity, so callers use it unconditionally. docs/METHODS.md, "Post-sublayer norms".
/// </summary>
public static class FrozenPostNorm
{
    /// <summary>ln1_post (attention) or ln2_post (MLP) weight of a layer; null when the model has no post-norms or the weight is folded to ones.</summary>
    public static Tensor? Weight(ModelConfig config, TransformerWeights weights, int layer, Sublayer sublayer)
    {
        if (!config.PostNorm) return null;
        var block = weights.Blocks[layer];
        return sublayer == Sublayer.Attention ? block.Ln1PostWeight : block.Ln2PostWeight;
    }

    /// <summary>
    /// Maps sublayer-output terms to their residual-stream terms in place: each row r of <paramref name="values"/>
    /// [rows, d_model] becomes g ⊙ centre(v) / scales[r]. The identity when the model has no post-norms.
    /// </summary>
    public static void ToResidual(ModelConfig config, Tensor? weight, ReadOnlySpan<float> scales, Span<float> values)
    {
        if (!config.PostNorm) return;
        int d = config.DModel, rows = values.Length / d;
        if (scales.Length != rows) throw new ArgumentException($"{scales.Length} post-norm scales for {rows} rows", nameof(scales));
        var g = weight is null ? default : weight.Contiguous().Span;
        for (int r = 0; r < rows; r++)
        {
            var v = values.Slice(r * d, d);
            if (config.Norm == NormKind.LayerNorm) Centre(v);
            // The same two steps as the forward's norm kernel (× 1/s, then × g), so a term's rounding matches the run's.
            System.Numerics.Tensors.TensorPrimitives.Multiply(v, (float)(1.0 / scales[r]), v);
            if (!g.IsEmpty) System.Numerics.Tensors.TensorPrimitives.Multiply(v, g, v);
        }
    }

    /// <summary>
    /// The transpose of <see cref="ToResidual"/> for one position: rewrites a read-out direction u (d_model) so that
    /// ToResidual(v)·u = v·u' for every v: u' = centre(g ⊙ u) / scale (centring is self-adjoint). Neuron-level DLA
    /// folds the MLP's post-norm into the unembedding direction with it instead of mapping every neuron's vector.
    /// </summary>
    public static void Readout(ModelConfig config, Tensor? weight, float scale, Span<float> direction)
    {
        if (!config.PostNorm) return;
        if (weight is not null) System.Numerics.Tensors.TensorPrimitives.Multiply(direction, weight.Contiguous().Span, direction);
        if (config.Norm == NormKind.LayerNorm) Centre(direction);
        System.Numerics.Tensors.TensorPrimitives.Multiply(direction, (float)(1.0 / scale), direction);
    }

    /// <summary>
    /// The per-row scales a post-norm takes of <paramref name="sublayerOutput"/> [rows, d_model] (what
    /// ln*_post.hook_scale records), computed by the forward's own norm kernel.
    /// </summary>
    public static float[] Scales(ModelConfig config, ReadOnlySpan<float> sublayerOutput)
    {
        int d = config.DModel, rows = sublayerOutput.Length / d;
        var scratch = new float[sublayerOutput.Length];
        var scales = new float[rows];
        if (config.Norm == NormKind.LayerNorm) Norms.LayerNorm(sublayerOutput, scratch, rows, d, default, default, config.NormEps, scales);
        else Norms.RmsNorm(sublayerOutput, scratch, rows, d, default, config.NormEps, scales);
        return scales;
    }

    /// <summary>
    /// The post-norm applied for real (the scale recomputed from <paramref name="values"/> itself), in place, with the
    /// forward's kernel: what path patching uses when a sender changes its layer's output and the norm rescales it.
    /// </summary>
    public static void Normalize(ModelConfig config, Tensor? weight, Span<float> values)
    {
        if (!config.PostNorm) return;
        int d = config.DModel, rows = values.Length / d;
        var g = weight is null ? default : weight.Contiguous().Span;
        if (config.Norm == NormKind.LayerNorm) Norms.LayerNorm(values, values, rows, d, g, default, config.NormEps);
        else Norms.RmsNorm(values, values, rows, d, g, config.NormEps);
    }

    private static void Centre(Span<float> v)
    {
        double sum = 0;
        foreach (float x in v) sum += x;
        System.Numerics.Tensors.TensorPrimitives.Subtract(v, (float)(sum / v.Length), v);
    }
}
