using HeadMiner.Models;
using HeadMiner.Tasks;
using HeadMiner.Tensors;

namespace HeadMiner.Analysis.Attribution;

/// <summary>
/// Node attribution patching results. <c>*Raw</c> is the estimated metric after the patch (corrupted + estimate), the
/// same quantity <see cref="Patching.PatchingResult.Raw"/> measures; <c>Heads</c>/<c>Mlp</c> are normalised exactly
/// like activation patching: (estimated − corrupted) / (clean − corrupted).
/// </summary>
public sealed record AttributionPatchingResult(
    string Metric,
    double CleanMetric,
    double CorruptedMetric,
    Tensor Heads,
    Tensor HeadsRaw,
    Tensor Mlp,
    Tensor MlpRaw,
    string WeightProcessing)
{
    public static readonly string[] HeadAxes = ["layer", "head", "position"];
    public static readonly string[] MlpAxes = ["layer", "position"];
}

/// <summary>
/// Attribution patching: the first-order (linear) estimate of activation patching for every head × position
/// (hook_z) and MLP output × position, from two forwards and one backward instead of one forward per patch.
/// <para><b>Sign convention</b> (denoising, as <c>headminer patch</c>'s default): the patch puts the clean
/// activation into the corrupted run, so the estimated change of the metric is
/// (a_clean − a_corrupted) · ∂metric/∂a, the gradient taken on the corrupted run and summed over the pairs (the metric
/// is their mean) and over the activation's dimensions. Positive = the clean activation moves the metric towards
/// its clean value; after dividing by (clean − corrupted), 1 = the patch alone would restore clean behaviour, the
/// same scale as activation patching, so the two tables compare cell by cell.</para>
/// </summary>
public static class AttributionPatching
{
    public static AttributionPatchingResult Nodes(Transformer model, TokenizedPairs pairs, MetricKind metric) =>
        Nodes(AttributionRuns.Create(model, pairs, metric), pairs);

    public static AttributionPatchingResult Nodes(AttributionRuns runs, TokenizedPairs pairs)
    {
        ArgumentNullException.ThrowIfNull(runs);
        ArgumentNullException.ThrowIfNull(pairs);
        var (heads, mlp) = CellSums(runs, pairs.Count, pairs.Length);
        return Result(runs.Forward.Config, pairs.Length, heads, mlp, runs.Metric, runs.CleanMetric, runs.CorruptedMetric, runs.WeightProcessing);
    }

    /// <summary>
    /// Per cell, Σ over the runs' <paramref name="n"/> pairs (in pair order, in double) of the estimate: heads
    /// [L, H, T] and MLPs [L, T] flattened. Prompt shards (<see cref="AttributionShards"/>) add these up shard by shard.
    /// </summary>
    internal static (double[] Heads, double[] Mlp) CellSums(AttributionRuns runs, int n, int T)
    {
        var c = runs.Forward.Config;
        int L = c.Layers, H = c.Heads, dh = c.DHead, d = c.DModel;
        var heads = new double[L * H * T];
        var mlp = new double[L * T];
        for (int l = 0; l < L; l++)
        {
            // hook_z [rows, H·dh]: head h at row r is the d_head slice at r·H·dh + h·dh.
            var zc = runs.Clean.Z[l].Value.Span;
            var zx = runs.Corrupted.Z[l].Value.Span;
            var gz = runs.Corrupted.Z[l].Gradient;
            for (int h = 0; h < H; h++)
                for (int p = 0; p < T; p++)
                {
                    double sum = 0;
                    for (int i = 0; i < n && gz is not null; i++)
                        sum += DeltaDot(zc, zx, gz.Span, ((i * T + p) * H + h) * dh, dh);
                    heads[(l * H + h) * T + p] = sum;
                }
            var mc = runs.Clean.MlpOut[l].Value.Span;
            var mx = runs.Corrupted.MlpOut[l].Value.Span;
            var gm = runs.Corrupted.MlpOut[l].Gradient;
            for (int p = 0; p < T; p++)
            {
                double sum = 0;
                for (int i = 0; i < n && gm is not null; i++) sum += DeltaDot(mc, mx, gm.Span, (i * T + p) * d, d);
                mlp[l * T + p] = sum;
            }
        }
        return (heads, mlp);
    }

    /// <summary>Per-cell estimate sums → the result: raw = corrupted + estimate, normalised by (clean − corrupted).</summary>
    internal static AttributionPatchingResult Result(ModelConfig c, int T, double[] heads, double[] mlp, string metric, double cleanMetric, double corruptedMetric, string weightProcessing)
    {
        var headsRaw = Tensor.Zeros(c.Layers, c.Heads, T);
        var mlpRaw = Tensor.Zeros(c.Layers, T);
        for (int i = 0; i < heads.Length; i++) headsRaw.Span[i] = (float)heads[i];
        for (int i = 0; i < mlp.Length; i++) mlpRaw.Span[i] = (float)mlp[i];
        double span = cleanMetric - corruptedMetric;
        return new AttributionPatchingResult(metric, cleanMetric, corruptedMetric,
            Normalise(headsRaw, span), Shift(headsRaw, corruptedMetric), Normalise(mlpRaw, span), Shift(mlpRaw, corruptedMetric), weightProcessing);
    }

    /// <summary>Σ_j (clean_j − corrupted_j) · gradient_j over one slice, in double.</summary>
    internal static double DeltaDot(ReadOnlySpan<float> clean, ReadOnlySpan<float> corrupted, ReadOnlySpan<float> gradient, int start, int length)
    {
        double sum = 0;
        for (int j = start; j < start + length; j++) sum += ((double)clean[j] - corrupted[j]) * gradient[j];
        return sum;
    }

    private static Tensor Normalise(Tensor estimate, double span)
    {
        var result = Tensor.Zeros(estimate.Shape.ToArray());
        for (int i = 0; i < estimate.Length; i++) result.Span[i] = span == 0 ? float.NaN : (float)(estimate.Span[i] / span);
        return result;
    }

    private static Tensor Shift(Tensor estimate, double corrupted)
    {
        var result = Tensor.Zeros(estimate.Shape.ToArray());
        for (int i = 0; i < estimate.Length; i++) result.Span[i] = (float)(corrupted + estimate.Span[i]);
        return result;
    }
}
