using HeadMiner.Hooks;
using HeadMiner.Models;
using HeadMiner.Tensors;
using HeadMiner.Tensors.Kernels;

namespace HeadMiner.Analysis;

/// <summary>How the logit lens applies the final norm to an intermediate residual stream.</summary>
public enum LensNorm
{
    /// <summary>
    /// The usual logit lens (and the default): the final norm is recomputed on each layer's own residual, weight and
    /// bias included, as if the model stopped there. The last row then equals the model's real logits.
    /// </summary>
    Recomputed,

    /// <summary>
    /// The final norm with the scale cached from the real run (ln_final.hook_scale), as direct logit attribution
    /// uses it: linear in the residual, so layers' contributions add up; earlier rows are not distributions the
    /// model would produce.
    /// </summary>
    CachedScale,
}

/// <summary>One token of a lens row.</summary>
public sealed record LensToken(int Id, float Logit, float Prob);

/// <summary>The lens read-out of one residual stream ("resid_pre {l}" or "final resid_post").</summary>
public sealed record LensLayer(string Label, LensToken[] Top, int? TargetRank, float? TargetProb, float? TargetLogit);

/// <summary>The logit lens of one prompt, with the weight processing and norm mode it was computed under.</summary>
public sealed record LogitLensResult(WeightProcessing Processing, LensNorm Norm, int Position, IReadOnlyList<LensLayer> Layers);

/// <summary>
/// The logit lens: unembed the accumulated residual stream (resid_pre of each layer, then the final resid_post) at
/// the prompt's last position, to see how the prediction forms layer by layer.
/// </summary>
public static class LogitLens
{
    public static LogitLensResult Run(Transformer model, ReadOnlySpan<int> tokens, int top = 10, int? target = null, LensNorm norm = LensNorm.Recomputed)
    {
        var c = model.Config;
        if (tokens.Length == 0) throw new HeadMinerException("the logit lens needs at least one token");
        if (top <= 0) throw new HeadMinerException($"top {top} must be positive");
        if (target is int t0 && (uint)t0 >= (uint)c.VocabSize) throw new HeadMinerException($"target token {t0} is outside the vocabulary of {c.VocabSize}");
        int last = tokens.Length - 1, d = c.DModel, v = c.VocabSize;
        var filter = CacheFilter.Where(h => h.Site is ActivationSite.ResidPre || (h.Site is ActivationSite.ResidPost && h.Layer == c.Layers - 1)
            || h.Site is ActivationSite.LnFinalScale) with
        { Positions = [last] };
        var (_, cache) = model.RunWithCache(TokenBatch.Single(tokens), filter);
        var (stack, labels) = cache.AccumulatedResid(); // [L+1, 1, 1, d]
        int rows = labels.Length;
        var normed = norm == LensNorm.Recomputed ? Recompute(model, stack) : WithCachedScale(model, cache, stack);

        // Unembed all rows with one GEMM on W_U as the model holds it (a transposed tied embedding, 16-bit storage):
        // no float32 copy of the vocabulary-sized matrix.
        var logits = new float[rows * v];
        var unembed = MatrixOperand.Of(model.Weights.W_U) ?? throw new HeadMinerException($"logit lens: W_U {model.Weights.W_U.ShapeString} has no unit-stride axis");
        unembed.Multiply(normed, d, rows, logits, v);
        if (model.Weights.b_U is { } bu)
        {
            var b = bu.Contiguous().Span;
            for (int r = 0; r < rows; r++) System.Numerics.Tensors.TensorPrimitives.Add(logits.AsSpan(r * v, v), b, logits.AsSpan(r * v, v));
        }
        // The model's own read-out ends with the final soft cap (Gemma 2); every lens row gets it, so the last is the prediction.
        if (c.FinalLogitSoftCap is { } cap) Activations.SoftCap(logits, logits, cap);
        var probs = (float[])logits.Clone();
        Softmax.Rows(probs, rows, v);

        var layers = new LensLayer[rows];
        for (int r = 0; r < rows; r++)
        {
            var row = logits.AsSpan(r * v, v).ToArray();
            var p = probs.AsSpan(r * v, v).ToArray();
            var order = Enumerable.Range(0, v).OrderByDescending(i => row[i]).ThenBy(i => i).Take(Math.Min(top, v));
            var topTokens = order.Select(i => new LensToken(i, row[i], p[i])).ToArray();
            int? rank = null;
            if (target is int tg)
            {
                // Rank 1 = the top token; ties broken by id as in the top list.
                int better = 0;
                for (int i = 0; i < v; i++)
                    if (row[i] > row[tg] || (row[i] == row[tg] && i < tg)) better++;
                rank = better + 1;
            }
            layers[r] = new LensLayer(labels[r], topTokens, rank, target is int t1 ? p[t1] : null, target is int t2 ? row[t2] : null);
        }
        return new LogitLensResult(model.Processing, norm, last, layers);
    }

    /// <summary>The real final norm (weight and bias) on each row.</summary>
    private static float[] Recompute(Transformer model, Tensor stack)
    {
        var c = model.Config;
        var x = stack.Contiguous().ToArray();
        int rows = x.Length / c.DModel;
        var w = model.Weights.LnFinalWeight is { } lw ? lw.Contiguous().Span : default;
        var b = model.Weights.LnFinalBias is { } lb ? lb.Contiguous().Span : default;
        if (c.Norm == NormKind.LayerNorm) Norms.LayerNorm(x, x, rows, c.DModel, w, b, c.NormEps);
        else Norms.RmsNorm(x, x, rows, c.DModel, w, c.NormEps);
        return x;
    }

    /// <summary>The cached-scale final norm (<see cref="ActivationCache.ApplyLnFinal"/>) plus the norm's bias, broadcast over the stack.</summary>
    private static float[] WithCachedScale(Transformer model, ActivationCache cache, Tensor stack)
    {
        var x = cache.ApplyLnFinal(stack).Contiguous().ToArray();
        int d = model.Config.DModel;
        if (model.Weights.LnFinalBias is { } lb)
        {
            var b = lb.Contiguous().Span;
            for (int r = 0; r < x.Length / d; r++) System.Numerics.Tensors.TensorPrimitives.Add(x.AsSpan(r * d, d), b, x.AsSpan(r * d, d));
        }
        return x;
    }
}
