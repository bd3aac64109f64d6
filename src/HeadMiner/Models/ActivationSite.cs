using HeadMiner.Tensors;

namespace HeadMiner.Models;

/// <summary>
/// The places in one forward pass where an activation can be read or replaced. The Hooks layer names them with
/// TransformerLens's vocabulary (docs/HOOKS.md); the forward pass only knows these sites.
/// Shapes (B batch, T tokens, H heads, G k/v heads, d d_model, dh d_head, m d_mlp):
/// Embed, PosEmbed, Resid*, AttnOut, MlpIn, MlpOut, Ln*Normalized, Ln*PostNormalized [B,T,d]; Ln*Scale, Ln*PostScale [B,T,1];
/// QInput [B,T,H,d], KInput/VInput [B,T,G,d]; Q, QNormNormalized, RotQ, Z [B,T,H,dh]; K, V, KNormNormalized, RotK [B,T,G,dh];
/// QNormScale [B,T,H,1] / KNormScale [B,T,G,1] (per-head QK-norm) or [B,T,1] (whole-projection QK-norm);
/// AttnScores, Pattern [B,H,T,T]; Result [B,T,H,d]; MlpPre, MlpPreLinear, MlpPost [B,T,m].
/// </summary>
public enum ActivationSite
{
    Embed,
    PosEmbed,
    ResidPre,
    Ln1Scale,
    Ln1Normalized,
    QInput,
    KInput,
    VInput,
    Q,
    K,
    V,
    QNormScale,
    QNormNormalized,
    KNormScale,
    KNormNormalized,
    RotQ,
    RotK,
    AttnScores,
    Pattern,
    Z,
    Result,
    Ln1PostScale,
    Ln1PostNormalized,
    AttnOut,
    ResidMid,
    MlpIn,
    Ln2Scale,
    Ln2Normalized,
    MlpPre,
    MlpPreLinear,
    MlpPost,
    Ln2PostScale,
    Ln2PostNormalized,
    MlpOut,
    ResidPost,
    LnFinalScale,
    LnFinalNormalized,
}

/// <summary>
/// What a forward pass reports to at each site. <see cref="Wants"/> is asked first, so sites nobody wants cost
/// nothing (no per-head results, no attention pattern, no split q/k/v inputs). <see cref="Visit"/> gets a view onto
/// the live buffer: reading it records the activation, writing into it changes the rest of the run.
/// </summary>
public interface IActivationHooks
{
    /// <summary>Whether <see cref="Visit"/> should be called for <paramref name="site"/> at <paramref name="layer"/> (−1 for sites outside blocks).</summary>
    bool Wants(ActivationSite site, int layer);

    void Visit(ActivationSite site, int layer, Tensor activation);

    /// <summary>
    /// Whether the <see cref="ActivationSite.Z"/> visit at <paramref name="layer"/> overwrites every element of z, so
    /// the forward need not compute it: when nothing else of that layer's attention is wanted (q/k/v and their inputs,
    /// norms, rotary, scores, pattern) and no KV cache is being filled, its queries, keys, values and attention are
    /// skipped and the visit gets a zeroed z to fill. Path patching's pass 1 pins every head's z (IOI-style, with the
    /// MLPs on the path): there that is a tenth of each layer's weight products and all of its attention.
    /// </summary>
    bool SuppliesZ(int layer) => false;
}

/// <summary>How to run one forward pass beyond the plain logits.</summary>
public sealed class ForwardOptions
{
    public IActivationHooks? Hooks { get; init; }

    /// <summary>Unembed only each sequence's last real token: logits [B, 1, vocab].</summary>
    public bool LastOnly { get; init; }

    /// <summary>
    /// Leave out the final-logit soft cap (Gemma 2): logits as the unembedding gives them, the quantity that
    /// per-component attributions add up to. No effect on a model without a cap.
    /// </summary>
    public bool UncappedLogits { get; init; }

    /// <summary>
    /// Unembed only these positions of every sequence: logits [B, positions, vocab]. With a large vocabulary the
    /// unembedding is most of a short prompt's cost, and a metric that reads a few positions needs no more.
    /// </summary>
    public int[]? LogitPositions { get; init; }

    /// <summary>
    /// Resume inside the model: run blocks from <see cref="StartLayer"/> with <see cref="StartResidual"/> [B·T, d] as
    /// that block's resid_pre (the embedding and earlier blocks are skipped). Patching sweeps use this to reuse a
    /// cached run below the patched layer.
    /// </summary>
    public int StartLayer { get; init; }
    public float[]? StartResidual { get; init; }

    /// <summary>Stop before this layer (exclusive); no logits are computed when it is less than the layer count.</summary>
    public int? EndLayer { get; init; }

    /// <summary>
    /// Every sequence of the batch continues a prefix of this many tokens that is not recomputed: the batch's rows
    /// are positions [PrefixLength, PrefixLength + T), and attention reads the prefix's keys and values from
    /// <see cref="PrefixKeysValues"/>. Patching sweeps use it: a change at position p leaves positions before p
    /// untouched in every layer (causality), so only the suffix needs running.
    /// </summary>
    public int PrefixLength { get; init; }

    /// <summary>For (layer, sequence): the prefix's keys and values after rotary, each [PrefixLength, kv_heads·d_head] row-major.</summary>
    public Func<int, int, (ReadOnlyMemory<float> Keys, ReadOnlyMemory<float> Values)>? PrefixKeysValues { get; init; }
}
