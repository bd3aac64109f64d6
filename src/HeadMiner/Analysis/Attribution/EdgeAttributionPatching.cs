using HeadMiner.Models;
using HeadMiner.Tasks;
using HeadMiner.Tensors.Kernels;

namespace HeadMiner.Analysis.Attribution;

/// <summary>
/// Edge attribution patching (after Syed et al.): the first-order effect of patching one sender's clean output into
/// the corrupted run <b>only as seen by one receiver</b>. Each receiver's input is the residual stream, the sum of
/// every earlier sender's output, so the edge's score is Σ_pairs,positions (s_clean − s_corrupted) · ∂metric/∂r,
/// with ∂metric/∂r the gradient with respect to that receiver's own input, taken on the corrupted run. Same sign
/// convention as <see cref="AttributionPatching"/>: positive = the clean sender output, delivered to this receiver,
/// moves the metric towards clean.
/// <para>Per-receiver input gradients are the split-input ones (each head reads its own copy of resid_pre, as with
/// TransformerLens's use_split_qkv_input): one backward gives ∂metric/∂q_h, which is pulled back through W_Q[h] and
/// the layer's first norm alone — the gradient with respect to that head's copy — instead of one backward per
/// receiver. Likewise the MLP's input gradient comes through its own norm only, and the logits' through the final
/// norm (the whole final residual). Cost beyond the two forwards and one backward: a [senders × receivers] product
/// over rows·d_model, plus one d_model-wide buffer per sender (≈ (1 + L·(H + 1)) · rows · d_model floats).</para>
/// <para>A sender feeds a receiver when it is computed earlier: the embedding feeds everything; heads and MLPs of
/// layer l feed layers &gt; l and the logits; in a sequential block the heads of layer l also feed MLP l (not in a
/// parallel attention + MLP block). For every receiver the scores of its senders add up to
/// (r_clean − r_corrupted) · ∂metric/∂r (biases do not differ between the runs), which the tests check.</para>
/// <para>Post-sublayer norms (OLMo-2, Gemma 2/3): a sender's output is its frozen-scale residual term
/// (<see cref="FrozenPostNorm"/>) — head h writes g ⊙ z_h·W_O[h] / s in each run, with s that run's ln1_post scale,
/// and its delta is the clean term minus the corrupted one. b_O's term then differs between the runs too (1/s does),
/// so a layer with a b_O gets a sender "a{l}.b_O" of its own, and the senders still add up to every receiver's
/// input change. The MLP's output is already after ln2_post and is one sender whole. Without pre-norms a receiver
/// reads the residual stream itself, so its gradient is the projection's, with no norm to pull it back through.</para>
/// </summary>
public static class EdgeAttributionPatching
{
    public static EdgeAttributionResult Run(Transformer model, TokenizedPairs pairs, MetricKind metric) =>
        Run(AttributionRuns.Create(model, pairs, metric));

    public static EdgeAttributionResult Run(AttributionRuns runs)
    {
        ArgumentNullException.ThrowIfNull(runs);
        return Ranked(Scores(runs), runs.Metric, runs.CleanMetric, runs.CorruptedMetric, runs.WeightProcessing);
    }

    /// <summary>Every edge's score in graph order (receivers, then their senders), before ranking: what prompt shards add up.</summary>
    internal static List<(string Sender, string Receiver, double Score)> Scores(AttributionRuns runs)
    {
        var senders = Senders(runs);
        var receivers = Receivers(runs);
        var scores = new List<(string, string, double)>();
        bool parallel = runs.Forward.Config.ParallelAttnMlp;
        foreach (var r in receivers)
            foreach (var sender in senders)
            {
                if (!Feeds(sender, r, parallel)) continue;
                scores.Add((sender.Name, r.Name, Dot(sender.Delta, r.Gradient)));
            }
        return scores;
    }

    /// <summary>Scores in graph order → the result: normalised by (clean − corrupted) and ranked by |score|.</summary>
    internal static EdgeAttributionResult Ranked(IEnumerable<(string Sender, string Receiver, double Score)> scores, string metric, double cleanMetric, double corruptedMetric, string weightProcessing)
    {
        double span = cleanMetric - corruptedMetric;
        var edges = scores.Select(e => new AttributionEdge(e.Sender, e.Receiver, e.Score, span == 0 ? double.NaN : e.Score / span)).ToList();
        edges.Sort((a, b) => Math.Abs(b.Score).CompareTo(Math.Abs(a.Score)));
        return new EdgeAttributionResult(metric, cleanMetric, corruptedMetric, edges, weightProcessing);
    }

    /// <summary>A sender: its layer (−1 = embedding), whether it is an attention head, and clean − corrupted output [rows·d_model].</summary>
    internal sealed record Sender(string Name, int Layer, bool Attention, float[] Delta);

    /// <summary>A receiver: its layer (L = logits), whether it is an MLP, and ∂metric/∂(its input) [rows·d_model].</summary>
    internal sealed record Receiver(string Name, int Layer, bool Mlp, float[] Gradient);

    internal static bool Feeds(Sender s, Receiver r, bool parallel) =>
        s.Layer < r.Layer || (s.Layer == r.Layer && s.Attention && r.Mlp && !parallel);

    internal static List<Sender> Senders(AttributionRuns runs)
    {
        var c = runs.Forward.Config;
        int L = c.Layers, H = c.Heads, dh = c.DHead, d = c.DModel, qw = H * dh;
        int rows = runs.Clean.Sequences * runs.Clean.Length;
        var list = new List<Sender> { new("embed", -1, false, Difference(runs.Clean.Embed.Value.Span, runs.Corrupted.Embed.Value.Span)) };
        for (int l = 0; l < L; l++)
        {
            var parts = runs.Forward.LayerParts(l);
            var wo = parts.Wo.Value.Span; // [H·dh, d]: head h's rows h·dh…
            if (c.PostNorm)
            {
                list.AddRange(PostNormHeadSenders(runs, l, rows));
                list.Add(new Sender($"mlp{l}", l, false, Difference(runs.Clean.MlpOut[l].Value.Span, runs.Corrupted.MlpOut[l].Value.Span)));
                continue;
            }
            var dz = Difference(runs.Clean.Z[l].Value.Span, runs.Corrupted.Z[l].Value.Span);
            for (int h = 0; h < H; h++)
            {
                // Δ(z_h · W_O[h]) = Δz_h · W_O[h]: the head's output changes by its z's change through its own rows of W_O.
                var delta = new float[rows * d];
                Gemm.Multiply(false, false, rows, d, dh, 1f, dz.AsSpan(h * dh), qw, wo[(h * dh * d)..], d, 0f, delta, d);
                list.Add(new Sender($"a{l}.h{h}", l, true, delta));
            }
            list.Add(new Sender($"mlp{l}", l, false, Difference(runs.Clean.MlpOut[l].Value.Span, runs.Corrupted.MlpOut[l].Value.Span)));
        }
        return list;
    }

    /// <summary>
    /// Layer <paramref name="l"/>'s head senders of a post-norm model: each head's frozen-scale residual term
    /// g ⊙ z_h·W_O[h] / s in the clean run minus the same in the corrupted run (each with its own ln1_post scale),
    /// and b_O's term likewise when the layer has one. Together they are exactly Δhook_attn_out.
    /// </summary>
    private static IEnumerable<Sender> PostNormHeadSenders(AttributionRuns runs, int l, int rows)
    {
        var c = runs.Forward.Config;
        int H = c.Heads, dh = c.DHead, d = c.DModel, qw = H * dh;
        var parts = runs.Forward.LayerParts(l);
        var wo = parts.Wo.Value;
        var weight = parts.Ln1Post?.Value;
        var cleanScales = FrozenPostNorm.Scales(c, runs.Clean.AttnOut[l].Value.Span);
        var corruptedScales = FrozenPostNorm.Scales(c, runs.Corrupted.AttnOut[l].Value.Span);
        float[] Term(DifferentiableRun run, float[] scales, int h)
        {
            var term = new float[rows * d];
            Gemm.Multiply(false, false, rows, d, dh, 1f, run.Z[l].Value.Span[(h * dh)..], qw, wo.Span[(h * dh * d)..], d, 0f, term, d);
            FrozenPostNorm.ToResidual(c, weight, scales, term);
            return term;
        }
        float[] BiasTerm(float[] scales)
        {
            var term = new float[rows * d];
            for (int r = 0; r < rows; r++) parts.Bo!.Value.Span.CopyTo(term.AsSpan(r * d, d));
            FrozenPostNorm.ToResidual(c, weight, scales, term);
            return term;
        }
        var senders = new List<Sender>();
        for (int h = 0; h < H; h++)
            senders.Add(new Sender($"a{l}.h{h}", l, true, Difference(Term(runs.Clean, cleanScales, h), Term(runs.Corrupted, corruptedScales, h))));
        if (parts.Bo is not null) senders.Add(new Sender($"a{l}.b_O", l, true, Difference(BiasTerm(cleanScales), BiasTerm(corruptedScales))));
        return senders;
    }

    internal static List<Receiver> Receivers(AttributionRuns runs)
    {
        var c = runs.Forward.Config;
        var run = runs.Corrupted;
        int L = c.Layers, dh = c.DHead, d = c.DModel;
        int rows = run.Sequences * run.Length;
        var list = new List<Receiver>();
        for (int l = 0; l < L; l++)
        {
            var parts = runs.Forward.LayerParts(l);
            var x = run.ResidPre[l].Value;
            void HeadInputs(string part, Tensors.Autodiff.Variable projected, Tensors.Autodiff.Variable weight, int heads, string prefix)
            {
                var g = projected.Gradient;
                int width = heads * dh;
                var normed = new float[rows * d];
                for (int h = 0; h < heads; h++)
                {
                    var dx = new float[rows * d];
                    if (g is not null)
                    {
                        // ∂/∂(normed copy) = ∂q_h · W_Q[h]ᵀ, then back through this head's own copy of the first norm.
                        Gemm.Multiply(false, true, rows, d, dh, 1f, g.Span[(h * dh)..], width, weight.Value.Span[(h * dh)..], width, 0f, normed, d);
                        if (c.PreNorm) runs.Forward.NormBackward(x.Span, normed, dx, rows, parts.Ln1W);
                        else normed.CopyTo(dx); // no norm before attention: the projection reads the residual itself
                    }
                    list.Add(new Receiver($"a{l}.{prefix}{h}.{part}", l, false, dx));
                }
            }
            HeadInputs("q", run.Q[l], parts.Wq, c.Heads, "h");
            HeadInputs("k", run.K[l], parts.Wk, c.KvHeads, c.KvHeads == c.Heads ? "h" : "kv");
            HeadInputs("v", run.V[l], parts.Wv, c.KvHeads, c.KvHeads == c.Heads ? "h" : "kv");
            var mlp = new float[rows * d];
            if (run.MlpNormed[l].Gradient is { } gm)
            {
                if (c.PreNorm) runs.Forward.NormBackward(run.MlpInput[l].Value.Span, gm.Span, mlp, rows, parts.Ln2W);
                else gm.Span.CopyTo(mlp); // MlpNormed is then the MLP's own copy of resid_mid
            }
            list.Add(new Receiver($"mlp{l}", l, true, mlp));
        }
        list.Add(new Receiver("logits", L, false, run.ResidFinal.Gradient?.ToArray() ?? new float[rows * d]));
        return list;
    }

    private static float[] Difference(ReadOnlySpan<float> clean, ReadOnlySpan<float> corrupted)
    {
        var result = new float[clean.Length];
        System.Numerics.Tensors.TensorPrimitives.Subtract(clean, corrupted, result);
        return result;
    }

    /// <summary>Σ a·b: SIMD float dot products over blocks of 256, summed in double (rows·d_model can be 10⁵–10⁶ long).</summary>
    private static double Dot(float[] a, float[] b)
    {
        const int block = 256;
        double sum = 0;
        for (int i = 0; i < a.Length; i += block)
        {
            int n = Math.Min(block, a.Length - i);
            sum += System.Numerics.Tensors.TensorPrimitives.Dot(a.AsSpan(i, n), b.AsSpan(i, n));
        }
        return sum;
    }
}
