using HeadMiner.Models;
using HeadMiner.Tensors;

namespace HeadMiner.Hooks;

/// <summary>
/// Checks that a model's forward pass gives finite numbers, and when it does not, says where the first non-finite
/// value appears. NaN propagates, so the logits show it: checking them is one pass over numbers a command has anyway;
/// only when they are not finite is the sequence run again with every hook point watched, to name the first
/// TransformerLens hook (e.g. blocks.3.attn.hook_z) that holds a non-finite value, and the weights there that do.
/// </summary>
public static class FiniteForward
{
    /// <summary>The tokens <see cref="CheckProbe"/> runs: up to 64, spread over the vocabulary.</summary>
    public const int ProbeLength = 64;

    /// <summary>Throws <see cref="NonFiniteForwardException"/> unless every logit of <paramref name="batch"/>'s run is finite.</summary>
    public static void Check(Transformer model, TokenBatch batch, Tensor logits, string what)
    {
        var c = logits.Contiguous();
        var span = c.Span;
        if (AllFinite(span)) return;
        // Locate in the first sequence whose logits are not finite, run alone (positions count real tokens, so its
        // values are those it had in the batch).
        int perRow = span.Length / logits.Dim(0), row = 0;
        while (row < logits.Dim(0) - 1 && AllFinite(span.Slice(row * perRow, perRow))) row++;
        var ids = new List<int>();
        for (int t = 0; t < batch.Length; t++)
            if (batch.IsReal(row, t)) ids.Add(batch.Ids[row * batch.Length + t]);
        throw Locate(model, ids.ToArray(), what);
    }

    /// <summary>As <see cref="Check(Transformer, TokenBatch, Tensor, string)"/> for one sequence's logits.</summary>
    public static void Check(Transformer model, IReadOnlyList<int> tokens, Tensor logits, string what)
    {
        if (!AllFinite(logits.Contiguous().Span)) throw Locate(model, tokens.ToArray(), what);
    }

    /// <summary>
    /// Runs one short sequence (<see cref="ProbeLength"/> tokens spread over the vocabulary) and checks its logits:
    /// what a command does before long work, so that broken weights stop it at once instead of after the work.
    /// </summary>
    public static void CheckProbe(Transformer model, string what)
    {
        var c = model.Config;
        int n = Math.Max(1, Math.Min(ProbeLength, Math.Min(c.ContextLength, c.VocabSize)));
        var ids = new int[n];
        for (int i = 0; i < n; i++) ids[i] = (int)((long)i * c.VocabSize / n);
        var batch = TokenBatch.Single(ids);
        Check(model, batch, model.Run(batch, new ForwardOptions()).Logits!, what);
    }

    /// <summary>Reruns <paramref name="tokens"/> with every hook point watched and describes the first non-finite value.</summary>
    public static NonFiniteForwardException Locate(Transformer model, int[] tokens, string what)
    {
        var watch = new FirstNonFinite();
        var logits = model.Run(TokenBatch.Single(tokens), new ForwardOptions { Hooks = watch }).Logits!;
        string found;
        string weights;
        if (watch.Site is { } site)
        {
            found = $"first at {site} (layer {(site.Layer < 0 ? "none: outside the blocks" : site.Layer.ToString(System.Globalization.CultureInfo.InvariantCulture))}, position {watch.Position} of {tokens.Length}: {watch.Value})";
            weights = BrokenWeights(model, site.Layer, final: site.Site is ActivationSite.LnFinalScale or ActivationSite.LnFinalNormalized);
        }
        else
        {
            found = AllFinite(logits.Contiguous().Span)
                ? "only in the batched run (this sequence alone gives finite logits)"
                : "only in the unembedding (every hook point is finite)";
            weights = BrokenWeights(model, -1, final: true);
        }
        return new NonFiniteForwardException(
            $"{what}: the model's forward pass gives non-finite values (NaN/±∞) — {found}; {weights}", watch.Site);
    }

    private static bool AllFinite(ReadOnlySpan<float> values)
    {
        foreach (float v in values)
            if (!float.IsFinite(v)) return false;
        return true;
    }

    /// <summary>Which weights of the block (or, for −1, the embedding; with <paramref name="final"/>, the final norm and unembedding) hold non-finite values.</summary>
    private static string BrokenWeights(Transformer model, int layer, bool final)
    {
        var w = model.Weights;
        var tensors = new List<(string Name, Tensor? Value)>();
        if (final)
            tensors.AddRange([("ln_final.w", w.LnFinalWeight), ("ln_final.b", w.LnFinalBias), ("unembed.W_U", w.HasUnembedding ? w.W_U : null), ("unembed.b_U", w.b_U)]);
        else if (layer < 0)
            tensors.AddRange([("embed.W_E", w.HasEmbedding ? w.W_E : null), ("pos_embed.W_pos", w.W_pos)]);
        else
        {
            var b = w.Blocks[layer];
            string p = $"blocks.{layer}.";
            tensors.AddRange([
                (p + "ln1.w", b.Ln1Weight), (p + "ln1.b", b.Ln1Bias),
                (p + "attn.W_Q", b.HasAttention ? b.W_Q : null), (p + "attn.W_K", b.HasAttention ? b.W_K : null),
                (p + "attn.W_V", b.HasAttention ? b.W_V : null), (p + "attn.W_O", b.HasAttention ? b.W_O : null),
                (p + "attn.b_Q", b.b_Q), (p + "attn.b_K", b.b_K), (p + "attn.b_V", b.b_V), (p + "attn.b_O", b.b_O),
                (p + "ln2.w", b.Ln2Weight), (p + "ln2.b", b.Ln2Bias),
                (p + "mlp.W_in", b.HasMlp ? b.W_in : null), (p + "mlp.W_gate", b.W_gate), (p + "mlp.W_out", b.HasMlp ? b.W_out : null),
                (p + "mlp.b_in", b.b_in), (p + "mlp.b_out", b.b_out),
            ]);
        }
        var broken = new List<string>();
        foreach (var (name, value) in tensors)
        {
            if (value is null) continue;
            int bad = 0;
            foreach (float v in value.Contiguous().Span) if (!float.IsFinite(v)) bad++;
            if (bad > 0) broken.Add($"{name} ({bad} of {value.Length})");
        }
        return broken.Count > 0
            ? $"non-finite weights there: {string.Join(", ", broken)}"
            : "the weights there are finite, so the values overflow in the computation (check the weights' scale and the checkpoint's dtype)";
    }

    /// <summary>Watches every hook point and remembers the first that holds a non-finite value.</summary>
    private sealed class FirstNonFinite : IActivationHooks
    {
        public HookName? Site { get; private set; }
        public int Position { get; private set; }
        public string Value { get; private set; } = "";

        public bool Wants(ActivationSite site, int layer) => Site is null;

        public void Visit(ActivationSite site, int layer, Tensor activation)
        {
            if (Site is not null) return;
            var values = activation.Contiguous().Span;
            for (int i = 0; i < values.Length; i++)
            {
                float v = values[i];
                // Masked attention scores are −∞ by construction: not a fault.
                if (float.IsFinite(v) || (site == ActivationSite.AttnScores && float.IsNegativeInfinity(v))) continue;
                Site = HookName.Of(site, layer);
                Position = PositionOf(site, activation.Shape, i);
                Value = float.IsNaN(v) ? "NaN" : v > 0 ? "+∞" : "−∞";
                return;
            }
        }

        /// <summary>The query position of flat index <paramref name="i"/>: axis 1 of [B, T, …], axis 2 of [B, H, T, K].</summary>
        private static int PositionOf(ActivationSite site, ReadOnlySpan<int> shape, int i)
        {
            int axis = site is ActivationSite.AttnScores or ActivationSite.Pattern ? 2 : 1;
            if (shape.Length <= axis) return 0;
            int inner = 1;
            for (int a = axis + 1; a < shape.Length; a++) inner *= shape[a];
            return i / inner % shape[axis];
        }
    }
}
