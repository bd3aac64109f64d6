using HeadMiner.Models;
using HeadMiner.Tensors;
using HeadMiner.Tensors.Kernels;

namespace HeadMiner.Analysis.Detectors;

/// <summary>
/// A head's full OV circuit W_E W_V W_O W_U (vocab × vocab: how attending to token s moves the logit of token t),
/// never built in full. Query head h of layer l uses W_V of its k/v head (<see cref="ModelConfig.KvHeadOf"/>).
/// Weights are used as the model holds them: processed weights (LayerNorm folded) give TransformerLens's numbers;
/// raw weights leave out the norms' scales.
/// </summary>
public static class OvCircuit
{
    /// <summary>Vocabulary rows widened at a time when forming W_U W_E (8192 × d_model floats: 64 MiB at d = 2048).</summary>
    private const int VocabChunk = 8192;

    /// <summary>
    /// Per head ([layer][head]) the d_head × d_head factor W_O W_U W_E W_V (row-major, double), which has the same
    /// non-zero eigenvalues as the full circuit (AB and BA share them). W_U W_E is formed once (d_model² · vocab work).
    /// </summary>
    public static double[][][] Factors(Transformer model)
    {
        var c = model.Config;
        var w = model.Weights;
        int d = c.DModel, dh = c.DHead, V = c.VocabSize;
        // W_U W_E summed over vocabulary chunks: a chunk of each is widened at a time, never the whole [V, d] matrices
        // (a 128k vocabulary at d = 2048 would be 1 GiB of float32 each, twice the 16-bit checkpoint's embedding).
        var ue = new float[d * d];
        var weChunk = new float[Math.Min(VocabChunk, V) * d];
        var wuChunk = new float[weChunk.Length];
        for (int start = 0; start < V; start += VocabChunk)
        {
            int n = Math.Min(VocabChunk, V - start);
            w.W_E.Slice(0, start, n).CopyTo(Tensor.FromMemory(weChunk.AsMemory(0, n * d), n, d));
            w.W_U.Slice(1, start, n).CopyTo(Tensor.FromMemory(wuChunk.AsMemory(0, d * n), d, n));
            Gemm.Multiply(false, false, d, d, n, 1f, wuChunk, n, weChunk, d, start == 0 ? 0f : 1f, ue, d);
        }
        var result = new double[c.Layers][][];
        var left = new float[dh * d];
        var factor = new float[dh * dh];
        for (int l = 0; l < c.Layers; l++)
        {
            var block = w.Blocks[l];
            result[l] = new double[c.Heads][];
            for (int h = 0; h < c.Heads; h++)
            {
                var wo = block.W_O.Select(0, h).Contiguous();
                var wv = block.W_V.Select(0, c.KvHeadOf(h)).Contiguous();
                Gemm.Multiply(false, false, dh, d, d, 1f, wo.Span, d, ue, d, 0f, left, d);
                Gemm.Multiply(false, false, dh, dh, d, 1f, left, d, wv.Span, dh, 0f, factor, dh);
                result[l][h] = [.. factor.Select(v => (double)v)];
            }
        }
        return result;
    }

    /// <summary>
    /// Per head ([layer][head]) the circuit restricted to <paramref name="probes"/>: row s, column t = the logit of
    /// probes[t] produced by attending to probes[s] (W_E[s] W_V W_O W_U[:, t]), [n, n] row-major.
    /// </summary>
    public static float[][][] ProbeLogits(Transformer model, int[] probes)
    {
        var c = model.Config;
        var w = model.Weights;
        int d = c.DModel, dh = c.DHead, n = probes.Length;
        var we = w.W_E;
        var wu = w.W_U;
        var embed = new float[n * d];
        var unembed = new float[d * n];
        for (int s = 0; s < n; s++)
        {
            we.Select(0, probes[s]).Contiguous().Span.CopyTo(embed.AsSpan(s * d, d));
            var column = wu.Select(1, probes[s]).ToArray();
            for (int k = 0; k < d; k++) unembed[k * n + s] = column[k];
        }
        var z = new float[n * dh];
        var written = new float[n * d];
        var result = new float[c.Layers][][];
        for (int l = 0; l < c.Layers; l++)
        {
            var block = w.Blocks[l];
            result[l] = new float[c.Heads][];
            for (int h = 0; h < c.Heads; h++)
            {
                var wv = block.W_V.Select(0, c.KvHeadOf(h)).Contiguous();
                var wo = block.W_O.Select(0, h).Contiguous();
                Gemm.Multiply(false, false, n, dh, d, 1f, embed, d, wv.Span, dh, 0f, z, dh);
                Gemm.Multiply(false, false, n, d, dh, 1f, z, dh, wo.Span, d, 0f, written, d);
                var logits = new float[n * n];
                Gemm.Multiply(false, false, n, n, d, 1f, written, d, unembed, n, 0f, logits, n);
                result[l][h] = logits;
            }
        }
        return result;
    }

    /// <summary><paramref name="count"/> distinct ordinary tokens drawn with <paramref name="seed"/> (all of them when fewer).</summary>
    public static int[] DrawProbes(DetectorContext context, int count, ulong seed)
    {
        var ordinary = DetectorPrompts.OrdinaryTokens(context);
        var rng = new SeededRandom(seed);
        rng.Shuffle(ordinary.AsSpan());
        return [.. ordinary.Take(Math.Min(count, ordinary.Length)).Order()];
    }
}
