using HeadMiner.Tensors;

namespace HeadMiner.Models;

/// <summary>
/// TransformerLens's weight processing, applied to a loaded model in place. Each step leaves every log-prob
/// unchanged (up to float rounding) and is recorded in <see cref="Transformer.Processing"/>:
/// - fold_ln: a norm's weight (and LayerNorm's bias) moves into the matrices that read its output
///   (W_Q/W_K/W_V, W_in/W_gate, W_U); for LayerNorm the reading weights are also centred over d_model, which is free
///   because a LayerNorm's output has zero mean. The norm keeps only its normalisation.
/// - center_writing_weights (LayerNorm models only): W_E, W_pos, W_O, W_out and their biases lose their mean over
///   d_model, since every reader of the residual stream (a LayerNorm) removes it anyway.
/// - center_unembed: W_U and b_U lose their mean over the vocabulary (softmax is shift-invariant); skipped under a
///   final-logit soft cap (Gemma 2), which is not.
/// - fold_value_biases: b_V moves into b_O (attention rows sum to 1, so Σ pattern · b_V = b_V).
/// Steps that are not exact for the model (centering writes of an RMSNorm model, center_unembed under a soft cap) are
/// skipped, and the label says so. Attention soft-capping needs nothing: folding changes no score. Gemma's (1 + w)
/// norms are ordinary RMSNorms by the time this runs (the loader folds the 1 in), so they fold like any other.
/// </summary>
public static class WeightProcessor
{
    public static void Apply(Transformer model, WeightProcessing requested)
    {
        if (model.Processing.Any) throw new HeadMinerException($"{model.Source}: weights are already processed ({model.Processing})");
        var c = model.Config;
        var w = model.Weights;
        bool layerNorm = c.Norm == NormKind.LayerNorm;
        bool centerWrites = requested.CenterWritingWeights && layerNorm;
        // A final-logit soft cap (Gemma 2) is not shift-invariant: cap·tanh((l + c)/cap) is not cap·tanh(l/cap) + c, so
        // centring the unembedding would change the log-probs. TransformerLens turns center_unembed off there too.
        bool centerUnembed = requested.CenterUnembed && w.HasUnembedding && c.FinalLogitSoftCap is null;

        if (requested.FoldLayerNorm)
        {
            // Post-sublayer norms (OLMo-2, Gemma 2) scale a sublayer's output after a normalisation of that same
            // output: no matrix reads them that could absorb the weight, so they stay as they are. Pre-norms fold.
            foreach (var b in c.PreNorm ? w.Blocks : [])
            {
                if (b.HasAttention)
                {
                    (b.W_Q, b.b_Q) = FoldIntoHeads(b.W_Q, b.b_Q, b.Ln1Weight, b.Ln1Bias, layerNorm);
                    (b.W_K, b.b_K) = FoldIntoHeads(b.W_K, b.b_K, b.Ln1Weight, b.Ln1Bias, layerNorm);
                    (b.W_V, b.b_V) = FoldIntoHeads(b.W_V, b.b_V, b.Ln1Weight, b.Ln1Bias, layerNorm);
                }
                if (b.HasMlp)
                {
                    var ln2W = b.Ln2Weight;
                    var ln2B = b.Ln2Bias;
                    (b.W_in, b.b_in) = FoldIntoMatrix(b.W_in, b.b_in, ln2W, ln2B, layerNorm);
                    if (b.W_gate is not null)
                    {
                        var (gate, gateBias) = FoldIntoMatrix(b.W_gate, null, ln2W, ln2B, layerNorm);
                        if (gateBias is not null && gateBias.Span.ContainsAnyExcept(0f))
                            throw new HeadMinerException($"{model.Source}: cannot fold a LayerNorm bias into a gate without a gate bias");
                        b.W_gate = gate;
                    }
                }
                (b.Ln1Weight, b.Ln1Bias, b.Ln2Weight, b.Ln2Bias) = (null, null, null, null);
            }
            if (w.HasUnembedding)
            {
                (w.W_U, w.b_U) = FoldIntoMatrix(w.W_U, w.b_U, w.LnFinalWeight, w.LnFinalBias, layerNorm);
                (w.LnFinalWeight, w.LnFinalBias) = (null, null);
            }
        }

        if (centerWrites)
        {
            if (w.HasEmbedding) w.W_E = CenterLastAxis(w.W_E);
            if (w.W_pos is not null) w.W_pos = CenterLastAxis(w.W_pos);
            foreach (var b in w.Blocks)
            {
                if (b.HasAttention) b.W_O = CenterLastAxis(b.W_O);
                if (b.b_O is not null) b.b_O = CenterLastAxis(b.b_O);
                if (b.HasMlp) b.W_out = CenterLastAxis(b.W_out);
                if (b.b_out is not null) b.b_out = CenterLastAxis(b.b_out);
            }
        }

        if (centerUnembed)
        {
            w.W_U = CenterLastAxis(w.W_U);
            if (w.b_U is not null) w.b_U = CenterLastAxis(w.b_U);
        }

        bool foldedValues = false;
        if (requested.FoldValueBiases)
        {
            foreach (var b in w.Blocks)
            {
                if (b.b_V is null || !b.HasAttention) continue;
                // b_O += Σ_h b_V[kv(h)] · W_O[h]
                var bO = b.b_O?.Clone() ?? Tensor.Zeros(c.DModel);
                var bv = b.b_V;
                var wo = b.W_O;
                var o = bO.Span;
                for (int h = 0; h < c.Heads; h++)
                {
                    int g = c.KvHeadOf(h);
                    for (int j = 0; j < c.DHead; j++)
                    {
                        float v = bv[g, j];
                        if (v == 0) continue;
                        for (int k = 0; k < c.DModel; k++) o[k] += v * wo[h, j, k];
                    }
                }
                b.b_O = bO;
                b.b_V = Tensor.Zeros(c.KvHeads, c.DHead);
                foldedValues = true;
            }
            foldedValues |= w.Blocks.All(b => b.b_V is null); // nothing to fold is folded
        }

        model.Processing = new WeightProcessing(requested.FoldLayerNorm, centerWrites, centerUnembed, requested.FoldValueBiases && foldedValues);
        model.WeightsChanged(); // packed copies of the replaced matrices (from any forward before this) are stale
    }

    /// <summary>(W·diag(γ), b + β·W) for W [heads, d_model, d_head]; W centred over d_model when the norm is a LayerNorm.</summary>
    private static (Tensor W, Tensor? Bias) FoldIntoHeads(Tensor w, Tensor? bias, Tensor? gamma, Tensor? beta, bool center)
    {
        int heads = w.Dim(0), d = w.Dim(1), dh = w.Dim(2);
        var folded = Tensor.Zeros(heads, d, dh);
        Tensor? newBias = bias?.Clone();
        if (beta is not null) newBias ??= Tensor.Zeros(heads, dh);
        var f = folded.Span;
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < d; i++)
            {
                float g = gamma is null ? 1f : gamma[i];
                float be = beta is null ? 0f : beta[i];
                for (int j = 0; j < dh; j++)
                {
                    float wij = w[h, i, j];
                    f[(h * d + i) * dh + j] = wij * g;
                    if (be != 0) newBias!.Span[h * dh + j] += be * wij;
                }
            }
        if (center)
            for (int h = 0; h < heads; h++)
                for (int j = 0; j < dh; j++)
                {
                    double mean = 0;
                    for (int i = 0; i < d; i++) mean += f[(h * d + i) * dh + j];
                    mean /= d;
                    for (int i = 0; i < d; i++) f[(h * d + i) * dh + j] -= (float)mean;
                }
        return (folded, newBias);
    }

    /// <summary>As <see cref="FoldIntoHeads"/> for a plain [d_model, out] matrix.</summary>
    private static (Tensor W, Tensor? Bias) FoldIntoMatrix(Tensor w, Tensor? bias, Tensor? gamma, Tensor? beta, bool center)
    {
        var (folded, newBias) = FoldIntoHeads(w.View(0, [1, w.Dim(0), w.Dim(1)], [0, w.Strides[0], w.Strides[1]]),
            bias?.Contiguous().Reshape(1, -1), gamma, beta, center);
        return (folded.Reshape(w.Dim(0), w.Dim(1)), newBias?.Reshape(-1));
    }

    /// <summary>A copy with the mean over the last axis removed from every row.</summary>
    private static Tensor CenterLastAxis(Tensor t)
    {
        var result = t.Clone();
        int n = result.Dim(-1);
        var s = result.Span;
        for (int start = 0; start < s.Length; start += n)
        {
            var row = s.Slice(start, n);
            double mean = 0;
            foreach (float v in row) mean += v;
            mean /= n;
            for (int i = 0; i < n; i++) row[i] -= (float)mean;
        }
        return result;
    }
}
