using HeadMiner.Models;
using HeadMiner.Tensors.Kernels;

namespace HeadMiner.Analysis.Truth;

/// <summary>
/// Writes one planted head's weights (added on top of its noise) into a layer. Query gains are sized from the norm a
/// row can have at that layer: a normalised row scales a unit entry by n = 1/σ (LayerNorm) or 1/rms (RMSNorm), with
/// k unit entries n² = d/k (LayerNorm: d/(k − k²/d)). Layer 0 rows hold exactly k₀ entries (token, constant, and the
/// position in GPT-2); later rows at most k₀ + 4 (previous token, the induction head's output, the copiers' and
/// sink's writes, noise), so gains use that bound there and planted gaps only grow on fuller rows' neighbours.
/// Keys carry unit entries (grouped k/v heads are shared), queries the gain.
/// </summary>
internal sealed class Planter(ModelConfig config, PlantedLayout layout, bool llama)
{
    private readonly PlantedLayout L = layout;
    private readonly int _pairs = config.DHead / 2;
    private readonly double[] _theta = llama ? Rotary.DefaultInverseFrequencies(config.DHead, config.RopeTheta) : [];
    private const float WindowGap = 8f;
    private int K0 => llama ? 2 : 3;

    private double NormSquared(int k)
    {
        double d = config.DModel, f = k / d;
        return llama ? 1 / f : 1 / (f - f * f);
    }

    /// <summary>n² of the smallest-normed row a head in this layer can see.</summary>
    private double LowNormSquared(int layer) => NormSquared(layer == 0 ? K0 : K0 + 4);

    /// <summary>n of a typical row (for writes of unit size).</summary>
    internal float Nominal(int layer) => (float)Math.Sqrt(NormSquared(layer == 0 ? K0 : K0 + 1));

    /// <summary>Query gain that turns a key-side score unit into <see cref="PlantedModels.TargetGap"/> logits.</summary>
    internal float Gain(int layer, double unit = 1) => (float)(PlantedModels.TargetGap / (config.AttentionScale * LowNormSquared(layer) * unit));

    /// <summary>Head-dim slot of token t's matching: GPT-2 slot t; Llama the real part of slow pair RotaryPairs + t.</summary>
    internal int TokenSlot(int t) => llama ? PlantedModels.RotaryPairs + t : t;

    public void Plant(LayerWeights b, int layer, int head, int kv, string type)
    {
        switch (type)
        {
            case PlantedTypes.PreviousToken:
                if (llama) RotaryPositional(b, layer, head, kv, shift: 1, sign: 1);
                else
                {
                    float g = Gain(layer);
                    for (int p = 0; p < L.Positions; p++) b.W_Q[head, L.Pos + p, L.Vocab + p] += g;
                    for (int p = 0; p + 1 < L.Positions; p++) b.W_K[kv, L.Pos + p, L.Vocab + p + 1] += 1f;
                }
                WriteTokens(b, layer, head, kv, L.Prev, 1f);
                break;

            case PlantedTypes.DuplicateToken:
                if (llama)
                {
                    // −c·K₀(Δ) pushes the query's own position down by the target gap; the token match must then beat
                    // the kernel's whole range over the other offsets, plus the gap (5% for the slow pairs' cos ≥ 0.98).
                    var k0 = RotaryPositional(b, layer, head, kv, shift: 0, sign: -1);
                    double c = PlantedModels.TargetGap / (config.AttentionScale * LowNormSquared(layer) * k0.Gap);
                    float g = (float)(1.05 * (c * (k0.OtherMax - k0.OtherMin) + PlantedModels.TargetGap / (config.AttentionScale * LowNormSquared(layer))));
                    MatchTokens(b, head, kv, L.Tok, L.Tok, g);
                }
                else
                {
                    float g = Gain(layer);
                    MatchTokens(b, head, kv, L.Tok, L.Tok, g);
                    for (int p = 0; p < L.Positions; p++)
                    {
                        b.W_Q[head, L.Pos + p, L.Vocab + p] += -2f * g;
                        b.W_K[kv, L.Pos + p, L.Vocab + p] += 1f;
                    }
                }
                break;

            case PlantedTypes.Induction:
                // Query: the current token; key: the previous-token subspace (K-composition with the previous-token head).
                MatchTokens(b, head, kv, L.Tok, L.Prev, Gain(layer));
                WriteTokens(b, layer, head, kv, L.Out, 1f);
                break;

            case PlantedTypes.AttentionSink:
                b.W_Q[head, L.Const, TokenSlot(PlantedModels.Bos)] += Gain(layer);
                b.W_K[kv, L.Tok + PlantedModels.Bos, TokenSlot(PlantedModels.Bos)] += 1f;
                for (int t = 0; t < L.Vocab; t++)
                {
                    b.W_V[kv, L.Tok + t, t] += 1f;
                    b.W_O[head, t, L.Junk + (t + 3) % PlantedLayout.JunkDims] += 0.3f / Nominal(layer);
                }
                break;

            case PlantedTypes.Positional:
                if (llama) throw new HeadMinerException("planted models: the Llama skeleton has no positional window head");
                {
                    // The three window keys score alike only up to their rows' norms (which later layers' writes make
                    // differ by a few %), so this head's gap is smaller: 8 logits still leave < 0.3% outside the window.
                    float g = Gain(layer) * WindowGap / PlantedModels.TargetGap;
                    for (int p = 0; p < L.Positions; p++)
                    {
                        b.W_Q[head, L.Pos + p, L.Vocab + p] += g;
                        for (int a = p; a < Math.Min(L.Positions, p + 3); a++) b.W_K[kv, L.Pos + p, L.Vocab + a] += 1f;
                    }
                }
                break;

            case PlantedTypes.Copy:
                WriteTokens(b, layer, head, kv, L.Out, 1f);
                break;

            case PlantedTypes.CopySuppression:
                WriteTokens(b, layer, head, kv, L.Out, -1f);
                break;

            default:
                throw new HeadMinerException($"planted models: unknown head type \"{type}\"");
        }
    }

    /// <summary>Score gain on tok_i (query subspace) = tok_j (key subspace).</summary>
    private void MatchTokens(LayerWeights b, int head, int kv, int querySpace, int keySpace, float gain)
    {
        for (int t = 0; t < L.Vocab; t++)
        {
            b.W_Q[head, querySpace + t, TokenSlot(t)] += gain;
            b.W_K[kv, keySpace + t, TokenSlot(t)] += 1f;
        }
    }

    /// <summary>OV: the token subspace → <paramref name="target"/> subspace, times <paramref name="sign"/>, unit size.</summary>
    private void WriteTokens(LayerWeights b, int layer, int head, int kv, int target, float sign)
    {
        float scale = sign / Nominal(layer);
        for (int t = 0; t < L.Vocab; t++)
        {
            b.W_V[kv, L.Tok + t, t] += 1f;
            b.W_O[head, t, target + t] += scale;
        }
    }

    /// <summary>
    /// Llama: a constant query and key in the fast rotary pairs give the score sign·c·K_shift(Δ), with c sized so the
    /// peak beats every other offset by the target gap.
    /// </summary>
    private RotaryKernel RotaryPositional(LayerWeights b, int layer, int head, int kv, int shift, int sign)
    {
        var kernel = new RotaryKernel(_theta.Take(PlantedModels.RotaryPairs).ToArray(), shift, config.ContextLength);
        if (kernel.Gap <= 0) throw new HeadMinerException($"planted models: rotary kernel at offset {shift} has no gap ({kernel.Gap})");
        float c = sign * Gain(layer, kernel.Gap);
        for (int f = 0; f < PlantedModels.RotaryPairs; f++)
        {
            var (re, im) = kernel.Key(f);
            b.W_Q[head, L.Const, f] += c;
            b.W_K[kv, L.Const, f] += re;
            b.W_K[kv, L.Const, f + _pairs] += im;
        }
        return kernel;
    }
}
