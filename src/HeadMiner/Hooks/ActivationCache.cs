using HeadMiner.Models;
using HeadMiner.Models.Formats;
using HeadMiner.Tensors;

namespace HeadMiner.Hooks;

/// <summary>
/// Activations recorded during a run, by TransformerLens name, holding only what its <see cref="CacheFilter"/> asked
/// for. It knows the model (and so its weight processing) it came from, which the residual-stream views need:
/// <see cref="AccumulatedResid"/> (logit lens), <see cref="DecomposeResid"/>, <see cref="StackHeadResults"/>,
/// <see cref="ApplyLnFinal"/> and <see cref="LogitAttribution"/>.
/// </summary>
public sealed class ActivationCache : IActivationHooks
{
    private readonly Dictionary<HookName, Entry> _entries = [];

    /// <summary>
    /// A stored activation. <see cref="Triangle"/>: a [B, H, T, T] score/pattern tensor whose entries above the causal
    /// diagonal all hold <see cref="Fill"/> (−∞ or 0) is stored as its lower triangle only, T(T+1)/2 per head.
    /// </summary>
    private sealed record Entry(int[] Shape, float[]? Floats, ushort[]? Halves, bool Triangle = false, float Fill = 0);

    public ActivationCache(Transformer model, CacheFilter filter)
    {
        Model = model;
        Filter = filter;
    }

    public Transformer Model { get; }
    public CacheFilter Filter { get; }

    /// <summary>The weight processing of the model the activations came from.</summary>
    public WeightProcessing Processing => Model.Processing;

    public IReadOnlyCollection<HookName> Names => _entries.Keys;

    /// <summary>Bytes of activation data held.</summary>
    public long Bytes => _entries.Values.Sum(e => e.Floats is not null ? e.Floats.LongLength * 4 : e.Halves!.LongLength * 2);

    public bool Contains(string name) => HookName.TryParse(name, out var h) && _entries.ContainsKey(h);
    public bool Contains(HookName hook) => _entries.ContainsKey(hook);

    /// <summary>The activation (float32; converted if stored in half precision).</summary>
    public Tensor this[string name] => Get(HookName.Parse(name, Model.Config));

    public Tensor this[ActivationSite site, int layer = -1] => Get(HookName.Of(site, layer));

    public Tensor Get(HookName hook)
    {
        if (!_entries.TryGetValue(hook, out var e))
            throw new HeadMinerException($"the cache has no \"{hook}\" (it holds {_entries.Count} points{(_entries.Count > 0 ? ", e.g. " + string.Join(", ", _entries.Keys.Take(3)) : "")}); widen the cache filter");
        float[] floats;
        if (e.Floats is not null) floats = e.Floats;
        else
        {
            floats = new float[e.Halves!.Length];
            HalfPrecision.F16ToFloat(e.Halves, floats);
        }
        return e.Triangle ? Unpack(floats, e.Shape, e.Fill) : Tensor.Wrap(floats, e.Shape);
    }

    // ---- recording (IActivationHooks) ---------------------------------------------------------------------------

    public bool Wants(ActivationSite site, int layer) => Filter.Includes(HookName.Of(site, layer));

    public void Visit(ActivationSite site, int layer, Tensor activation)
    {
        var hook = HookName.Of(site, layer);
        var kept = SelectPositions(site, activation);
        var shape = kept.Shape.ToArray();
        float fill = site == ActivationSite.AttnScores ? float.NegativeInfinity : 0f;
        if (site is ActivationSite.AttnScores or ActivationSite.Pattern && TryPackTriangle(kept, fill) is { } packed)
        {
            if (Filter.HalfPrecision)
            {
                var packedHalves = new ushort[packed.Length];
                HalfPrecision.FloatToF16(packed, packedHalves);
                _entries[hook] = new Entry(shape, null, packedHalves, true, fill);
            }
            else _entries[hook] = new Entry(shape, packed, null, true, fill);
            return;
        }
        if (Filter.HalfPrecision)
        {
            var c = kept.Contiguous();
            var halves = new ushort[c.Length];
            HalfPrecision.FloatToF16(c.Span, halves);
            _entries[hook] = new Entry(shape, null, halves);
        }
        else
        {
            // One copy out of the live buffer (the forward pass reuses it for the next layer).
            var floats = new float[kept.Length];
            kept.CopyTo(Tensor.Wrap(floats, shape));
            _entries[hook] = new Entry(shape, floats, null);
        }
    }

    /// <summary>The lower triangles of a [B, H, T, T] tensor, or null when it is not square or not masked above the diagonal.</summary>
    private static float[]? TryPackTriangle(Tensor t, float fill)
    {
        if (t.Rank != 4 || t.Dim(2) != t.Dim(3) || !t.IsContiguous) return null;
        int blocks = t.Dim(0) * t.Dim(1), n = t.Dim(2);
        var src = t.Span;
        for (int b = 0; b < blocks; b++)
            for (int i = 0; i < n; i++)
                foreach (float v in src.Slice((b * n + i) * n + i + 1, n - i - 1))
                    if (!v.Equals(fill)) return null;
        int per = n * (n + 1) / 2;
        var packed = new float[blocks * per];
        for (int b = 0; b < blocks; b++)
            for (int i = 0, o = b * per; i < n; o += ++i)
                src.Slice((b * n + i) * n, i + 1).CopyTo(packed.AsSpan(o, i + 1));
        return packed;
    }

    private static Tensor Unpack(float[] packed, int[] shape, float fill)
    {
        var result = Tensor.Zeros(shape);
        int blocks = shape[0] * shape[1], n = shape[2], per = n * (n + 1) / 2;
        var dst = result.Span;
        if (fill != 0) dst.Fill(fill);
        for (int b = 0; b < blocks; b++)
            for (int i = 0, o = b * per; i < n; o += ++i)
                packed.AsSpan(o, i + 1).CopyTo(dst.Slice((b * n + i) * n, i + 1));
        return result;
    }

    /// <summary>Keeps the filter's positions on the token axis (axis 1; the query axis 2 of scores and patterns).</summary>
    private Tensor SelectPositions(ActivationSite site, Tensor t)
    {
        if (Filter.Positions is not { } positions) return t;
        int axis = site is ActivationSite.AttnScores or ActivationSite.Pattern ? 2 : 1;
        var shape = t.Shape.ToArray();
        int length = shape[axis];
        foreach (int p in positions)
            if ((uint)p >= (uint)length) throw new HeadMinerException($"cache position {p} is outside the {length} tokens of the run");
        shape[axis] = positions.Length;
        var result = Tensor.Zeros(shape);
        for (int i = 0; i < positions.Length; i++) t.Slice(axis, positions[i], 1).CopyTo(result.Slice(axis, i, 1));
        return result;
    }

    // ---- residual-stream views ------------------------------------------------------------------------------------

    private int FinalLayer => Model.Config.Layers - 1;

    /// <summary>
    /// The residual stream before each layer and after the last: [layers + 1, B, T, d] with labels
    /// "resid_pre {l}" and "final resid_post" — the input of the logit lens.
    /// </summary>
    public (Tensor Stack, string[] Labels) AccumulatedResid()
    {
        var parts = new List<Tensor>();
        var labels = new List<string>();
        for (int l = 0; l < Model.Config.Layers; l++)
        {
            parts.Add(Get(HookName.Of(ActivationSite.ResidPre, l)));
            labels.Add($"resid_pre {l}");
        }
        parts.Add(Get(HookName.Of(ActivationSite.ResidPost, FinalLayer)));
        labels.Add("final resid_post");
        return (Stack(parts), [.. labels]);
    }

    /// <summary>
    /// The final residual stream split into what wrote it: embed, pos_embed (if any), then attn_out and mlp_out of
    /// each layer: [components, B, T, d]. The components sum to the final resid_post.
    /// </summary>
    public (Tensor Stack, string[] Labels) DecomposeResid()
    {
        var parts = new List<Tensor> { Get(HookName.Of(ActivationSite.Embed)) };
        var labels = new List<string> { "embed" };
        if (Model.Config.LearnedPositions)
        {
            parts.Add(Get(HookName.Of(ActivationSite.PosEmbed)));
            labels.Add("pos_embed");
        }
        for (int l = 0; l < Model.Config.Layers; l++)
        {
            parts.Add(Get(HookName.Of(ActivationSite.AttnOut, l)));
            labels.Add($"{l}_attn_out");
            parts.Add(Get(HookName.Of(ActivationSite.MlpOut, l)));
            labels.Add($"{l}_mlp_out");
        }
        return (Stack(parts), [.. labels]);
    }

    /// <summary>
    /// Every head's contribution to the residual stream, z_h·W_O[h] (from the cached hook_z, so hook_result need not
    /// be cached): [layers·heads, B, T, d] labelled "L{l}H{h}". Attention's b_O is not in any head (see <see cref="AttentionBiases"/>).
    /// With post-sublayer norms each term is mapped through its layer's ln1_post with the run's cached scale
    /// (<see cref="FrozenPostNorm"/>, so ln1_post.hook_scale must be cached too): g ⊙ z_h·W_O[h] / s. The heads and
    /// the b_O term then still sum exactly to hook_attn_out, which is what reached the residual stream.
    /// </summary>
    public (Tensor Stack, string[] Labels) StackHeadResults()
    {
        var c = Model.Config;
        var parts = new List<Tensor>();
        var labels = new List<string>();
        for (int l = 0; l < c.Layers; l++)
        {
            var z = Get(HookName.Of(ActivationSite.Z, l)); // [B, T, H, dh]
            int rows = z.Dim(0) * z.Dim(1);
            var zFlat = z.Contiguous().Reshape(rows, c.Heads * c.DHead);
            var scales = PostNormScales(l, Sublayer.Attention, z.Dim(0), z.Dim(1));
            var postWeight = FrozenPostNorm.Weight(c, Model.Weights, l, Sublayer.Attention);
            for (int h = 0; h < c.Heads; h++)
            {
                var result = Tensor.Zeros(z.Dim(0), z.Dim(1), c.DModel);
                var wo = Model.Weights.Blocks[l].W_O.Select(0, h).Contiguous(); // [dh, d]
                Tensors.Kernels.Gemm.Multiply(false, false, rows, c.DModel, c.DHead, 1f,
                    zFlat.Span[(h * c.DHead)..], c.Heads * c.DHead, wo.Span, c.DModel, 0f, result.Span, c.DModel);
                FrozenPostNorm.ToResidual(c, postWeight, scales, result.Span);
                parts.Add(result);
                labels.Add($"L{l}H{h}");
            }
        }
        return (Stack(parts), [.. labels]);
    }

    /// <summary>
    /// b_O of each layer broadcast over [B, T]: [layers, B, T, d] ("L{l} b_O"). Zero where a layer has no b_O. With
    /// post-sublayer norms, g ⊙ b_O / s per position (the frozen-scale term, as in <see cref="StackHeadResults"/>).
    /// </summary>
    public (Tensor Stack, string[] Labels) AttentionBiases()
    {
        var c = Model.Config;
        var template = Get(HookName.Of(ActivationSite.Z, 0));
        int b = template.Dim(0), t = template.Dim(1);
        var stack = Tensor.Zeros(c.Layers, b, t, c.DModel);
        for (int l = 0; l < c.Layers; l++)
        {
            if (Model.Weights.Blocks[l].b_O is not { } bias) continue;
            var bo = bias.Contiguous().Span;
            var layer = stack.Select(0, l).Span;
            for (int r = 0; r < b * t; r++) bo.CopyTo(layer.Slice(r * c.DModel, c.DModel));
            FrozenPostNorm.ToResidual(c, FrozenPostNorm.Weight(c, Model.Weights, l, Sublayer.Attention), PostNormScales(l, Sublayer.Attention, b, t), layer);
        }
        return (stack, Enumerable.Range(0, c.Layers).Select(l => $"L{l} b_O").ToArray());
    }

    /// <summary>
    /// The cached ln1_post/ln2_post scales of <paramref name="layer"/> (one per row of a [B, T] stack), or empty
    /// for a model without post-norms. The error names what to cache when the run did not keep them.
    /// </summary>
    public float[] PostNormScales(int layer, Sublayer sublayer, int batch, int tokens)
    {
        if (!Model.Config.PostNorm) return [];
        var hook = HookName.Of(sublayer == Sublayer.Attention ? ActivationSite.Ln1PostScale : ActivationSite.Ln2PostScale, layer);
        if (!_entries.ContainsKey(hook))
            throw new HeadMinerException($"the cache has no \"{hook}\", which per-head terms of this {Model.Config.Architecture} model need (it normalises each sublayer's output, and the run's scale is what makes the terms add up); widen the cache filter");
        var scale = Get(hook); // [B, T, 1]
        if (scale.Dim(0) != batch || scale.Dim(1) != tokens)
            throw new HeadMinerException($"{hook} covers {scale.Dim(0)}×{scale.Dim(1)} positions but the terms cover {batch}×{tokens}");
        return scale.Contiguous().ToArray();
    }

    /// <summary>
    /// Applies the final norm to each slice of a residual stack [..., B, T, d] using the scale cached from the real
    /// run (ln_final.hook_scale), so the result is linear in the stack: centre over d (LayerNorm only), divide by
    /// the cached scale, multiply by the norm's weight when not folded. The norm's bias is not applied (it belongs to
    /// no component; <see cref="LogitAttribution"/> reports it as its own term).
    /// </summary>
    public Tensor ApplyLnFinal(Tensor stack)
    {
        var scale = Get(HookName.Of(ActivationSite.LnFinalScale)); // [B, T', 1]
        int d = Model.Config.DModel;
        int b = stack.Dim(-3), t = stack.Dim(-2);
        if (scale.Dim(0) != b || scale.Dim(1) != t)
            throw new HeadMinerException($"ln_final.hook_scale covers {scale.Dim(0)}×{scale.Dim(1)} positions but the stack has {b}×{t}; run with every position's logits");
        var result = stack.Clone();
        var s = result.Span;
        var sc = scale.Span;
        var gamma = Model.Weights.LnFinalWeight is { } g ? g.Contiguous().Span : default;
        bool center = Model.Config.Norm == NormKind.LayerNorm;
        for (int row = 0; row < s.Length / d; row++)
        {
            var v = s.Slice(row * d, d);
            float mean = 0;
            if (center)
            {
                double sum = 0;
                foreach (float x in v) sum += x;
                mean = (float)(sum / d);
            }
            float inv = 1f / sc[row % (b * t)];
            for (int i = 0; i < d; i++) v[i] = (v[i] - mean) * inv * (gamma.IsEmpty ? 1f : gamma[i]);
        }
        return result;
    }

    /// <summary>
    /// Direct logit attribution: for each component of <paramref name="stack"/> [C, B, T, d], the dot product of its
    /// final-norm-scaled value with the unembedding direction W_U[:, answer] − W_U[:, wrong] (per batch row):
    /// [C, B, T]. With the final norm folded, the components plus the bias terms (final norm bias, b_U) sum to the
    /// logit difference.
    /// </summary>
    public Tensor LogitAttribution(Tensor stack, int[] answer, int[]? wrong = null)
    {
        var scaled = ApplyLnFinal(stack);
        int c = stack.Dim(0), b = stack.Dim(1), t = stack.Dim(2), d = Model.Config.DModel;
        if (answer.Length != b || (wrong is not null && wrong.Length != b))
            throw new HeadMinerException($"{answer.Length} answers for a batch of {b}");
        var directions = Directions(answer, wrong); // [B, d]
        var result = Tensor.Zeros(c, b, t);
        var s = scaled.Span;
        var r = result.Span;
        for (int ci = 0; ci < c; ci++)
            for (int bi = 0; bi < b; bi++)
                for (int ti = 0; ti < t; ti++)
                    r[(ci * b + bi) * t + ti] = System.Numerics.Tensors.TensorPrimitives.Dot(s.Slice(((ci * b + bi) * t + ti) * d, d), directions.AsSpan(bi * d, d));
        return result;
    }

    /// <summary>The bias terms of the logit difference per batch row: final-norm bias·direction + b_U difference.</summary>
    public float[] LogitBiasTerms(int[] answer, int[]? wrong = null)
    {
        int b = answer.Length, d = Model.Config.DModel;
        var directions = Directions(answer, wrong);
        var result = new float[b];
        var beta = Model.Weights.LnFinalBias is { } lb ? lb.Contiguous().Span : default;
        var bu = Model.Weights.b_U is { } ub ? ub.Contiguous().Span : default;
        for (int i = 0; i < b; i++)
        {
            if (!beta.IsEmpty) result[i] += System.Numerics.Tensors.TensorPrimitives.Dot(beta, directions.AsSpan(i * d, d));
            if (!bu.IsEmpty) result[i] += bu[answer[i]] - (wrong is null ? 0 : bu[wrong[i]]);
        }
        return result;
    }

    private float[] Directions(int[] answer, int[]? wrong)
    {
        int d = Model.Config.DModel;
        var wu = Model.Weights.W_U;
        var directions = new float[answer.Length * d];
        for (int i = 0; i < answer.Length; i++)
            for (int k = 0; k < d; k++)
                directions[i * d + k] = wu[k, answer[i]] - (wrong is null ? 0 : wu[k, wrong[i]]);
        return directions;
    }

    private static Tensor Stack(List<Tensor> parts)
    {
        var shape = new[] { parts.Count }.Concat(parts[0].Shape.ToArray()).ToArray();
        var result = Tensor.Zeros(shape);
        for (int i = 0; i < parts.Count; i++) parts[i].CopyTo(result.Select(0, i));
        return result;
    }
}
