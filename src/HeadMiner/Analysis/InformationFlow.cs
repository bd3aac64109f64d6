using HeadMiner.Hooks;
using HeadMiner.Models;
using HeadMiner.Tensors;
using HeadMiner.Tensors.Kernels;

namespace HeadMiner.Analysis;

/// <summary>
/// The information-flow graph of one prompt (Ferrando and Voita 2024, "Information flow routes: automatically
/// interpreting language models at scale"; the LLM Transparency Tool draws it). Every residual-stream sum in the model
/// is split into the terms that were added: an attention sublayer adds, at query position t, one term per head h and
/// key position j, A[h,t,j]·v_j·W_O[h] (its post-norm applied at the run's own scale on OLMo-2 and Gemma 2/3, as in
/// <see cref="FrozenPostNorm"/>), plus b_O; the MLP adds its output. Each term c of a sum y gets the importance
/// max(0, ‖y‖₁ − ‖y − c‖₁) (how much closer to y it is than nothing is, in L1), and the importances of one sum are
/// normalised to shares that add up to 1. A route from the last token keeps the edges whose share passes a threshold,
/// walking back from the top of the model (<see cref="Routes"/>).
/// <para>Depths: residual point 2l is resid_pre of layer l, 2l + 1 its resid_mid, 2l + 2 its resid_post (= resid_pre of
/// l + 1). A parallel block (GPT-NeoX) has no resid_mid: heads, MLP and residual all meet in one sum at 2l + 2.</para>
/// </summary>
public sealed record InformationFlow
{
    public required int Layers { get; init; }
    public required int Heads { get; init; }
    public required int[] Tokens { get; init; }

    /// <summary>Attention and MLP add into one sum per layer (GPT-NeoX, GPT-J).</summary>
    public required bool Parallel { get; init; }

    /// <summary>[layer][position]: the residual's share in the attention sum (in a parallel block, the block's one sum).</summary>
    public required double[][] AttentionResidual { get; init; }

    /// <summary>[layer][query position][head][key position]: the share of head h reading key j (0 above the diagonal).</summary>
    public required double[][][][] HeadShares { get; init; }

    /// <summary>[layer][position]: b_O's share (0 for a model without b_O).</summary>
    public required double[][] AttentionBias { get; init; }

    /// <summary>[layer][position]: the residual's share in the MLP sum; null for parallel blocks (no separate sum).</summary>
    public required double[][]? MlpResidual { get; init; }

    /// <summary>[layer][position]: the MLP output's share in its sum (the block's one sum when parallel).</summary>
    public required double[][] Mlp { get; init; }

    /// <summary>The share of head h in layer l's attention sum at <paramref name="position"/> (its key positions added).</summary>
    public double HeadShare(int layer, int position, int head) => HeadShares[layer][position][head].Sum();

    /// <summary>The hook points the computation reads.</summary>
    public static HookName[] Hooks(ModelConfig c)
    {
        var hooks = new List<HookName>();
        for (int l = 0; l < c.Layers; l++)
        {
            hooks.AddRange([HookName.Of(ActivationSite.ResidPre, l), HookName.Of(ActivationSite.Pattern, l), HookName.Of(ActivationSite.V, l),
                HookName.Of(ActivationSite.MlpOut, l), HookName.Of(ActivationSite.ResidPost, l)]);
            if (!c.ParallelAttnMlp) hooks.Add(HookName.Of(ActivationSite.ResidMid, l));
            if (c.PostNorm) hooks.Add(HookName.Of(ActivationSite.Ln1PostScale, l));
        }
        return [.. hooks];
    }

    /// <summary>One forward pass over <paramref name="tokens"/> and the shares of every sum at every position.</summary>
    public static InformationFlow Compute(Transformer model, ReadOnlySpan<int> tokens, CancellationToken cancellation = default)
    {
        if (tokens.Length == 0) throw new HeadMinerException("the information flow needs at least one token");
        var c = model.Config;
        var ids = tokens.ToArray();
        var cache = new ActivationCache(model, CacheFilter.Of(Hooks(c)));
        var hooks = new HookSet(c);
        hooks.Add(h => h.Site == ActivationSite.ResidPre, (_, _) => cancellation.ThrowIfCancellationRequested());
        hooks.Include(cache);
        model.Run(TokenBatch.Single(ids), new ForwardOptions { Hooks = hooks });
        return FromCache(cache, ids);
    }

    /// <summary>The shares from a run that cached <see cref="Hooks"/> (batch 1).</summary>
    public static InformationFlow FromCache(ActivationCache cache, int[] tokens)
    {
        var c = cache.Model.Config;
        int t = tokens.Length, d = c.DModel, heads = c.Heads;
        var attnResidual = new double[c.Layers][];
        var headShares = new double[c.Layers][][][];
        var bias = new double[c.Layers][];
        var mlpResidual = c.ParallelAttnMlp ? null : new double[c.Layers][];
        var mlp = new double[c.Layers][];
        var term = new float[d];
        for (int l = 0; l < c.Layers; l++)
        {
            var weights = cache.Model.Weights.Blocks[l];
            var residPre = Rows(cache, ActivationSite.ResidPre, l);
            var residPost = Rows(cache, ActivationSite.ResidPost, l);
            var mlpOut = Rows(cache, ActivationSite.MlpOut, l);
            var residMid = c.ParallelAttnMlp ? null : Rows(cache, ActivationSite.ResidMid, l);
            var pattern = cache.Get(HookName.Of(ActivationSite.Pattern, l)).Contiguous().Span; // [1, H, T, T]
            var valuesOut = ValuesThroughWO(c, weights, cache.Get(HookName.Of(ActivationSite.V, l)), t); // [H][T·d]
            var scales = cache.PostNormScales(l, Sublayer.Attention, 1, t);
            var postWeight = FrozenPostNorm.Weight(c, cache.Model.Weights, l, Sublayer.Attention);
            float[]? biasTerm = weights.b_O is null ? null : weights.b_O.ToArray();

            attnResidual[l] = new double[t];
            headShares[l] = new double[t][][];
            bias[l] = new double[t];
            mlp[l] = new double[t];
            if (mlpResidual is not null) mlpResidual[l] = new double[t];
            for (int q = 0; q < t; q++)
            {
                // The attention sum (or, in a parallel block, the block's sum) at q: y = what the residual became.
                var y = (residMid ?? residPost).AsSpan(q * d, d);
                double yNorm = L1(y);
                double residualImportance = Importance(y, yNorm, residPre.AsSpan(q * d, d));
                var headImportance = new double[heads][];
                for (int h = 0; h < heads; h++)
                {
                    headImportance[h] = new double[t];
                    for (int k = 0; k <= q; k++)
                    {
                        float a = pattern[(h * t + q) * t + k];
                        if (a == 0) continue;
                        System.Numerics.Tensors.TensorPrimitives.Multiply(valuesOut[h].AsSpan(k * d, d), a, term);
                        FrozenPostNorm.ToResidual(c, postWeight, scales.Length == 0 ? default : scales.AsSpan(q, 1), term);
                        headImportance[h][k] = Importance(y, yNorm, term);
                    }
                }
                double biasImportance = 0;
                if (biasTerm is not null)
                {
                    biasTerm.CopyTo(term, 0);
                    FrozenPostNorm.ToResidual(c, postWeight, scales.Length == 0 ? default : scales.AsSpan(q, 1), term);
                    biasImportance = Importance(y, yNorm, term);
                }
                double mlpImportance = c.ParallelAttnMlp ? Importance(y, yNorm, mlpOut.AsSpan(q * d, d)) : 0;
                double total = residualImportance + biasImportance + mlpImportance + headImportance.Sum(r => r.Sum());
                double Share(double v) => total > 0 ? v / total : 0;
                attnResidual[l][q] = Share(residualImportance);
                bias[l][q] = Share(biasImportance);
                headShares[l][q] = [.. headImportance.Select(r => r.Select(Share).ToArray())];
                if (c.ParallelAttnMlp)
                {
                    mlp[l][q] = Share(mlpImportance);
                    continue;
                }

                // The MLP sum at q: resid_post = resid_mid + mlp_out.
                var post = residPost.AsSpan(q * d, d);
                double postNorm = L1(post);
                double fromResidual = Importance(post, postNorm, residMid!.AsSpan(q * d, d));
                double fromMlp = Importance(post, postNorm, mlpOut.AsSpan(q * d, d));
                double sum = fromResidual + fromMlp;
                mlpResidual![l][q] = sum > 0 ? fromResidual / sum : 0;
                mlp[l][q] = sum > 0 ? fromMlp / sum : 0;
            }
        }
        return new InformationFlow
        {
            Layers = c.Layers,
            Heads = heads,
            Tokens = tokens,
            Parallel = c.ParallelAttnMlp,
            AttentionResidual = attnResidual,
            HeadShares = headShares,
            AttentionBias = bias,
            MlpResidual = mlpResidual,
            Mlp = mlp,
        };
    }

    /// <summary>max(0, ‖y‖₁ − ‖y − c‖₁): Ferrando and Voita's proximity of a term c to the sum y it is part of.</summary>
    public static double Importance(ReadOnlySpan<float> y, double yNorm, ReadOnlySpan<float> term)
    {
        double distance = 0;
        for (int i = 0; i < y.Length; i++) distance += Math.Abs((double)y[i] - term[i]);
        return Math.Max(0, yNorm - distance);
    }

    private static double L1(ReadOnlySpan<float> v)
    {
        double s = 0;
        foreach (float x in v) s += Math.Abs((double)x);
        return s;
    }

    private static float[] Rows(ActivationCache cache, ActivationSite site, int layer) => cache.Get(HookName.Of(site, layer)).ToArray();

    /// <summary>v_j·W_O[h] for every head and key position: [head][T·d] (GQA: head h reads k/v head KvHeadOf(h)).</summary>
    private static float[][] ValuesThroughWO(ModelConfig c, LayerWeights weights, Tensor v, int t)
    {
        var values = v.Contiguous().Span; // [1, T, G, dh]
        int rowStride = c.KvHeads * c.DHead;
        var result = new float[c.Heads][];
        for (int h = 0; h < c.Heads; h++)
        {
            result[h] = new float[t * c.DModel];
            var wo = weights.W_O.Select(0, h).Contiguous(); // [dh, d]
            Gemm.Multiply(false, false, t, c.DModel, c.DHead, 1f, values[(c.KvHeadOf(h) * c.DHead)..], rowStride, wo.Span, c.DModel, 0f, result[h], c.DModel);
        }
        return result;
    }

    /// <summary>
    /// The routes into the last token (or <paramref name="position"/>): starting from its residual at the top of the
    /// model, every edge into a kept node whose share is at least <paramref name="threshold"/> is kept, and its source
    /// node with it, walking down to the embeddings. An MLP edge goes from the point before the MLP to the point after.
    /// </summary>
    public IReadOnlyList<FlowEdge> Routes(double threshold, int? position = null)
    {
        int top = 2 * Layers, start = position ?? Tokens.Length - 1;
        if (start < 0 || start >= Tokens.Length) throw new HeadMinerException($"position {start} is outside the prompt's {Tokens.Length} tokens");
        var edges = new List<FlowEdge>();
        var kept = new HashSet<(int Depth, int Position)> { (top, start) };
        for (int depth = top; depth > 0; depth--)
        {
            foreach (int q in kept.Where(n => n.Depth == depth).Select(n => n.Position).OrderBy(p => p).ToArray())
            {
                foreach (var e in Incoming(depth, q))
                {
                    if (e.Share < threshold || e.Share <= 0) continue;
                    edges.Add(e);
                    kept.Add((e.FromDepth, e.FromPosition));
                }
            }
        }
        return edges;
    }

    /// <summary>Every edge into the residual point at (<paramref name="depth"/>, <paramref name="q"/>).</summary>
    public IEnumerable<FlowEdge> Incoming(int depth, int q)
    {
        bool attentionSum = Parallel ? depth % 2 == 0 : depth % 2 == 1;
        int layer = Parallel ? depth / 2 - 1 : (depth - 1) / 2;
        if (attentionSum)
        {
            int from = Parallel ? depth - 2 : depth - 1;
            yield return new FlowEdge(FlowEdgeKind.Residual, layer, null, from, q, depth, q, AttentionResidual[layer][q]);
            for (int h = 0; h < Heads; h++)
                for (int k = 0; k <= q; k++)
                    yield return new FlowEdge(FlowEdgeKind.Head, layer, h, from, k, depth, q, HeadShares[layer][q][h][k]);
            if (Parallel) yield return new FlowEdge(FlowEdgeKind.Mlp, layer, null, from, q, depth, q, Mlp[layer][q]);
        }
        else
        {
            yield return new FlowEdge(FlowEdgeKind.Residual, layer, null, depth - 1, q, depth, q, MlpResidual![layer][q]);
            yield return new FlowEdge(FlowEdgeKind.Mlp, layer, null, depth - 1, q, depth, q, Mlp[layer][q]);
        }
    }
}

public enum FlowEdgeKind { Residual, Head, Mlp }

/// <summary>
/// One edge of the flow graph: from the residual point (<see cref="FromDepth"/>, <see cref="FromPosition"/>) into
/// (<see cref="ToDepth"/>, <see cref="ToPosition"/>) through a head (reading the source position), the MLP or the
/// residual connection, with its share of the sum it feeds.
/// </summary>
public sealed record FlowEdge(FlowEdgeKind Kind, int Layer, int? Head, int FromDepth, int FromPosition, int ToDepth, int ToPosition, double Share);
