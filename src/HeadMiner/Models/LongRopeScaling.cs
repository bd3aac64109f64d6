namespace HeadMiner.Models;

/// <summary>
/// Phi-3's LongRoPE (rope_scaling type "longrope", formerly "su"): every rotary frequency is divided by its own factor,
/// from <see cref="ShortFactors"/> while a forward pass stays within <see cref="OriginalMaxPositions"/> positions and
/// from <see cref="LongFactors"/> once it goes beyond; cos and sin are both multiplied by
/// <see cref="AttentionFactor"/>, which scales every query·key product of the rotated dimensions by its square.
/// </summary>
/// <remarks>
/// As in Hugging Face, the choice is made per forward pass from its largest position (max(position_ids) + 1 &gt;
/// original), so keys cached while a sequence was short keep their short-factor rotation when it grows past the
/// original length during generation.
/// </remarks>
public sealed record LongRopeScaling(double[] ShortFactors, double[] LongFactors, int OriginalMaxPositions, double AttentionFactor)
{
    /// <summary>Whether a pass covering positions [0, <paramref name="positions"/>) uses the long factors.</summary>
    public bool UsesLongFactors(int positions) => positions > OriginalMaxPositions;

    /// <summary>θ^(−2i/d) / factor[i] for the factors a pass over <paramref name="positions"/> positions uses.</summary>
    public double[] InverseFrequencies(int rotaryDim, double theta, int positions)
    {
        var factors = UsesLongFactors(positions) ? LongFactors : ShortFactors;
        var f = Tensors.Kernels.Rotary.DefaultInverseFrequencies(rotaryDim, theta);
        for (int i = 0; i < f.Length; i++) f[i] /= factors[i];
        return f;
    }

    /// <summary>
    /// Hugging Face's default attention factor when config gives none: √(1 + ln s / ln original) for s =
    /// max_position_embeddings / original (or rope_scaling.factor when given) above 1, else 1.
    /// </summary>
    public static double DefaultAttentionFactor(double scale, int originalMaxPositions) =>
        scale <= 1 ? 1 : Math.Sqrt(1 + Math.Log(scale) / Math.Log(originalMaxPositions));
}
