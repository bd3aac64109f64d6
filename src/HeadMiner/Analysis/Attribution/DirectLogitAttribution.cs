using HeadMiner.Hooks;
using HeadMiner.Models;
using HeadMiner.Tensors;

namespace HeadMiner.Analysis.Attribution;

/// <summary>One MLP neuron's direct contribution: post[n]·W_out[n,:] through the final norm and the unembedding direction.</summary>
public sealed record NeuronAttribution(int Layer, int Neuron, double Attribution);

/// <summary>
/// Direct logit attribution of one prompt at its last position: what each component wrote into the residual stream,
/// read through the final norm (with the scale cached from the real run) and the direction W_U[:, answer] − W_U[:, wrong]
/// (or W_U[:, answer] alone when there is no wrong token).
/// </summary>
public sealed record PromptAttribution
{
    public required int Index { get; init; }
    public required int Answer { get; init; }
    public int? Wrong { get; init; }

    /// <summary>
    /// The run's logit[answer] − logit[wrong] (or logit[answer]), before a final-logit soft cap (Gemma 2): the quantity
    /// the components add up to (the cap is not linear; docs/HOOKS.md, "Gemma").
    /// </summary>
    public required double LogitDiff { get; init; }

    /// <summary>The same difference after the model's final-logit soft cap, what the model outputs; null without a cap.</summary>
    public double? CappedLogitDiff { get; init; }

    /// <summary>Final-norm bias · direction + b_U[answer] − b_U[wrong]: the part no component owns.</summary>
    public required double BiasTerms { get; init; }

    /// <summary>Per layer component, in <see cref="DlaResult.ComponentLabels"/> order (embed, pos_embed, {l}_attn_out, {l}_mlp_out).</summary>
    public required double[] Components { get; init; }

    /// <summary>
    /// [layer][head]: z_h·W_O[h] of each head (through the layer's ln1_post at the run's scale on post-norm models,
    /// <see cref="FrozenPostNorm"/>). A layer's heads plus its b_O term equal its attn_out attribution.
    /// </summary>
    public required double[][] Heads { get; init; }

    /// <summary>[layer]: b_O's attribution (0 where a layer has none).</summary>
    public required double[] AttentionBiases { get; init; }

    /// <summary>[layer][neuron] when neurons were asked for, else null.</summary>
    public double[][]? Neurons { get; init; }

    /// <summary>[layer]: b_out's attribution (the part of mlp_out no neuron owns); null unless neurons were asked for.</summary>
    public double[]? MlpBiases { get; init; }

    /// <summary>Components + bias terms; equals <see cref="LogitDiff"/> up to float rounding (the cached scale makes the map linear).</summary>
    public double ComponentSum => Components.Sum() + BiasTerms;

    /// <summary>The top <paramref name="k"/> neurons of <paramref name="layer"/> by |attribution|.</summary>
    public NeuronAttribution[] TopNeurons(int layer, int k) => Neurons is null ? [] : DirectLogitAttribution.Top(Neurons[layer], layer, k);
}

/// <summary>Direct logit attribution of a set of prompts, with the weight processing the numbers depend on.</summary>
public sealed record DlaResult
{
    public required WeightProcessing Processing { get; init; }
    public required string[] ComponentLabels { get; init; }
    public required IReadOnlyList<PromptAttribution> Prompts { get; init; }
    public int Layers => Prompts[0].Heads.Length;
    public int HeadsPerLayer => Prompts[0].Heads[0].Length;

    /// <summary>[layer][head] mean over prompts.</summary>
    public double[][] MeanHeads() => Enumerable.Range(0, Layers)
        .Select(l => Enumerable.Range(0, HeadsPerLayer).Select(h => Prompts.Average(p => p.Heads[l][h])).ToArray()).ToArray();

    public double[] MeanComponents() => Enumerable.Range(0, ComponentLabels.Length).Select(i => Prompts.Average(p => p.Components[i])).ToArray();

    /// <summary>Top <paramref name="k"/> neurons of each layer by |mean attribution over prompts|; empty without neuron data.</summary>
    public NeuronAttribution[][] TopNeuronsByMean(int k)
    {
        if (Prompts[0].Neurons is null) return [];
        return Enumerable.Range(0, Layers).Select(l =>
        {
            var mean = new double[Prompts[0].Neurons![l].Length];
            foreach (var p in Prompts)
                for (int n = 0; n < mean.Length; n++) mean[n] += p.Neurons![l][n] / Prompts.Count;
            return DirectLogitAttribution.Top(mean, l, k);
        }).ToArray();
    }
}

/// <summary>
/// Direct logit attribution (DLA) per layer component, per attention head and per MLP neuron, at each prompt's last
/// position, built on <see cref="ActivationCache.LogitAttribution"/>. One forward pass caches only the last position
/// of hook_embed/pos_embed, hook_z, hook_attn_out, hook_mlp_out (hook_post for neurons) and ln_final.hook_scale, plus
/// ln1_post/ln2_post.hook_scale on post-norm models, whose head and neuron terms are the frozen-scale ones
/// (<see cref="FrozenPostNorm"/>: each term through its sublayer's post-norm at this run's scale, so they still add up).
/// </summary>
public static class DirectLogitAttribution
{
    private static double Capped(double logit, float cap) => cap * Math.Tanh(logit / cap);

    /// <summary>
    /// Attribution for every sequence of <paramref name="batch"/> (no padding: the last position is each prompt's last
    /// token) towards <paramref name="answers"/>[b] minus <paramref name="wrongs"/>[b] (or the answer's logit alone).
    /// </summary>
    public static DlaResult Compute(Transformer model, TokenBatch batch, int[] answers, int[]? wrongs = null, bool neurons = false)
    {
        var c = model.Config;
        if (batch.Mask is not null) throw new HeadMinerException("direct logit attribution needs unpadded prompts of equal length");
        if (answers.Length != batch.Batch || (wrongs is not null && wrongs.Length != batch.Batch))
            throw new HeadMinerException($"{answers.Length} answers for {batch.Batch} prompts");
        foreach (int id in answers.Concat(wrongs ?? []))
            if ((uint)id >= (uint)c.VocabSize) throw new HeadMinerException($"token id {id} is outside the vocabulary of {c.VocabSize}");
        int last = batch.Length - 1, B = batch.Batch;
        var filter = CacheFilter.Where(h => h.Site is ActivationSite.Embed or ActivationSite.PosEmbed or ActivationSite.Z
            or ActivationSite.AttnOut or ActivationSite.MlpOut or ActivationSite.LnFinalScale
            // Post-norm models: the run's ln1_post/ln2_post scales turn head and neuron terms into residual terms.
            or ActivationSite.Ln1PostScale or ActivationSite.Ln2PostScale
            || (neurons && h.Site == ActivationSite.MlpPost)) with
        { Positions = [last] };
        var (run, cache) = model.RunWithCache(batch, filter, uncappedLogits: true);
        var logits = run.Logits!;

        var (resid, labels) = cache.DecomposeResid();             // [C, B, 1, d]
        var (heads, _) = cache.StackHeadResults();                // [L·H, B, 1, d]
        var (biases, _) = cache.AttentionBiases();                // [L, B, 1, d]
        var residDla = cache.LogitAttribution(resid, answers, wrongs);
        var headDla = cache.LogitAttribution(heads, answers, wrongs);
        var biasDla = cache.LogitAttribution(biases, answers, wrongs);
        var biasTerms = cache.LogitBiasTerms(answers, wrongs);
        var readout = neurons ? ReadoutDirections(cache, answers, wrongs) : null;

        var prompts = new PromptAttribution[B];
        for (int b = 0; b < B; b++)
        {
            double actual = logits[b, last, answers[b]] - (wrongs is null ? 0 : logits[b, last, wrongs[b]]);
            double[][]? neuronDla = null;
            double[]? mlpBiases = null;
            if (readout is not null)
            {
                neuronDla = new double[c.Layers][];
                mlpBiases = new double[c.Layers];
                for (int l = 0; l < c.Layers; l++)
                {
                    // With a post-norm the neuron's write goes through ln2_post at this run's scale: fold it into u.
                    var u = (float[])readout[b].Clone();
                    if (c.PostNorm)
                        FrozenPostNorm.Readout(c, FrozenPostNorm.Weight(c, model.Weights, l, Sublayer.Mlp), cache.PostNormScales(l, Sublayer.Mlp, B, 1)[b], u);
                    (neuronDla[l], mlpBiases[l]) = NeuronsOf(model, cache.Get(HookName.Of(ActivationSite.MlpPost, l)), l, b, u);
                }
            }
            prompts[b] = new PromptAttribution
            {
                Index = b,
                Answer = answers[b],
                Wrong = wrongs?[b],
                LogitDiff = actual,
                CappedLogitDiff = c.FinalLogitSoftCap is { } cap
                    ? Capped(logits[b, last, answers[b]], cap) - (wrongs is null ? 0 : Capped(logits[b, last, wrongs[b]], cap))
                    : null,
                BiasTerms = biasTerms[b],
                Components = Enumerable.Range(0, labels.Length).Select(i => (double)residDla[i, b, 0]).ToArray(),
                Heads = Enumerable.Range(0, c.Layers).Select(l => Enumerable.Range(0, c.Heads).Select(h => (double)headDla[l * c.Heads + h, b, 0]).ToArray()).ToArray(),
                AttentionBiases = Enumerable.Range(0, c.Layers).Select(l => (double)biasDla[l, b, 0]).ToArray(),
                Neurons = neuronDla,
                MlpBiases = mlpBiases,
            };
        }
        return new DlaResult { Processing = model.Processing, ComponentLabels = labels, Prompts = prompts };
    }

    /// <summary>
    /// Per batch row, the vector u with attribution(x) = x·u for any residual-stream vector x: the final norm with the
    /// cached scale is linear (centre, ÷ scale, × weight), so it folds into the unembedding direction:
    /// u = centre(weight ⊙ direction) / scale (no centring for RMSNorm) — the map <see cref="ActivationCache.ApplyLnFinal"/>
    /// applies, which the neuron-sum test checks. O(B·d), where pushing a basis through it would be O(B·d²).
    /// </summary>
    private static float[][] ReadoutDirections(ActivationCache cache, int[] answers, int[]? wrongs)
    {
        var model = cache.Model;
        int d = model.Config.DModel;
        var scale = cache.Get(HookName.Of(ActivationSite.LnFinalScale)); // [B, 1, 1]
        var wu = model.Weights.W_U;
        var gamma = model.Weights.LnFinalWeight?.Contiguous().ToArray();
        var result = new float[answers.Length][];
        for (int b = 0; b < answers.Length; b++)
        {
            var u = new float[d];
            for (int k = 0; k < d; k++) u[k] = (wu[k, answers[b]] - (wrongs is null ? 0 : wu[k, wrongs[b]])) * (gamma?[k] ?? 1f);
            if (model.Config.Norm == NormKind.LayerNorm)
            {
                double mean = u.Average(x => (double)x);
                for (int k = 0; k < d; k++) u[k] -= (float)mean;
            }
            float inv = 1f / scale[b, 0, 0];
            for (int k = 0; k < d; k++) u[k] *= inv;
            result[b] = u;
        }
        return result;
    }

    /// <summary>Neuron n of layer l: post[n] · (W_out[n,:] · u); b_out · u is returned apart.</summary>
    private static (double[] Neurons, double Bias) NeuronsOf(Transformer model, Tensor post, int layer, int b, float[] u)
    {
        var w = model.Weights.Blocks[layer];
        var wout = w.W_out; // [m, d]
        int m = wout.Dim(0), d = wout.Dim(1);
        var through = new float[m];
        var woutC = wout.Contiguous().Span;
        for (int n = 0; n < m; n++) through[n] = System.Numerics.Tensors.TensorPrimitives.Dot(woutC.Slice(n * d, d), u);
        var result = new double[m];
        for (int n = 0; n < m; n++) result[n] = (double)post[b, 0, n] * through[n];
        double bias = w.b_out is { } bo ? System.Numerics.Tensors.TensorPrimitives.Dot(bo.Contiguous().Span, u) : 0;
        return (result, bias);
    }

    internal static NeuronAttribution[] Top(double[] values, int layer, int k) =>
        Enumerable.Range(0, values.Length).OrderByDescending(n => Math.Abs(values[n])).ThenBy(n => n).Take(Math.Max(0, k))
            .Select(n => new NeuronAttribution(layer, n, values[n])).ToArray();
}
