using HeadMiner.Models;
using HeadMiner.Tensors;
using HeadMiner.Tensors.Kernels;

namespace HeadMiner.Analysis.Detectors;

/// <summary>Q-, K- and V-composition between every earlier head (l1, h1) and later head (l2, h2): [L, H, L, H], NaN where l1 ≥ l2.</summary>
public sealed record CompositionMatrices(Tensor Q, Tensor K, Tensor V);

/// <summary>
/// Composition scores (A Mathematical Framework for Transformer Circuits): how much a later head reads, through its
/// query side, key side or values, the subspace an earlier head writes. With row vectors (x W),
/// W_OV = W_V W_O and W_QK = W_Q W_Kᵀ (d_model × d_model):
/// Q = ‖W_OV1 W_QK2‖ / (‖W_OV1‖ ‖W_QK2‖), K = ‖W_OV1 W_QK2ᵀ‖ / (…), V = ‖W_OV1 W_OV2‖ / (‖W_OV1‖ ‖W_OV2‖),
/// Frobenius norms, so every score lies in [0, 1]. Independent random matrices score about 1/√d_model.
/// Query head h reads W_K/W_V of k/v head <see cref="ModelConfig.KvHeadOf"/>. No d_model × d_model matrix is built:
/// with X = U R (U orthonormal columns, R = <see cref="GramFactor"/>) ‖A Xᵀ‖ = ‖A Rᵀ‖, so every product shrinks to
/// d_head-sized factors and all pairs of two layers come from one GEMM per side (<see cref="CompositionReader"/>,
/// which shares the work among the query heads of a k/v group). Weights are used as the model holds them (fold
/// LayerNorm for TransformerLens's numbers); only attention weights are read, so weights-only checkpoints work.
/// </summary>
public static class CompositionScores
{
    public static CompositionMatrices Compute(Transformer model, CancellationToken cancel = default)
    {
        var c = model.Config;
        int L = c.Layers, H = c.Heads, G = c.KvHeads, d = c.DModel, dh = c.DHead, width = H * dh;
        // Every layer's writers are kept (each later layer reads them all); a layer's readers are formed when its turn
        // comes and dropped after: a 1B model's readers of all layers would be 16 × 24 MiB. Weights are copied one
        // layer at a time in the [heads·dh, d] layout checkpoints store (a BF16 one is widened only per layer).
        // The norms come from the factors: ‖W_OV‖ = ‖R_V R_Oᵀ‖ and ‖W_QK‖ = ‖R_Q R_Kᵀ‖.
        var writers = new float[L][];
        var rO = new float[L][][]; // kept for the V side of later layers
        var ovNorm = new double[L * H];
        for (int l = 0; l < L; l++)
        {
            cancel.ThrowIfCancellationRequested();
            var b = model.Weights.Blocks[l];
            var o = b.W_O.ToArray(); // [H·dh, d]: head h's W_O is rows h·dh …
            var rV = Factors(b.W_V.Transpose(1, 2).ToArray(), G, d, dh);
            rO[l] = Factors(o, H, d, dh);
            writers[l] = new float[width * d]; // head h's rows: R_V W_O(h) [dh, d], which stands for W_OV = W_V W_O
            for (int h = 0; h < H; h++)
            {
                Gemm.Multiply(false, false, dh, d, dh, 1f, rV[c.KvHeadOf(h)], dh, o.AsSpan(h * dh * d), d, 0f, writers[l].AsSpan(h * dh * d), d);
                ovNorm[l * H + h] = ProductNorm(rV[c.KvHeadOf(h)], rO[l][h], dh);
            }
        }
        var result = new Tensor[3];
        for (int s = 0; s < 3; s++) result[s] = Tensor.Full(float.NaN, L, H, L, H);
        var product = new float[width * width];
        var scratch = new float[width * G * dh];
        var readerNorm = new double[3][];
        for (int l2 = 1; l2 < L; l2++)
        {
            cancel.ThrowIfCancellationRequested();
            var b = model.Weights.Blocks[l2];
            var q = b.W_Q.Transpose(1, 2).ToArray();
            var k = b.W_K.Transpose(1, 2).ToArray();
            var rQ = Factors(q, H, d, dh);
            var rK = Factors(k, G, d, dh);
            var rKOfHead = Enumerable.Range(0, H).Select(h => rK[c.KvHeadOf(h)]).ToArray();
            var readers = new[]
            {
                new CompositionReader(q, H, rKOfHead, d, dh), // W_Q R_Kᵀ: W_QK
                new CompositionReader(k, G, rQ, d, dh), // W_K R_Qᵀ: W_QKᵀ
                new CompositionReader(b.W_V.Transpose(1, 2).ToArray(), G, rO[l2], d, dh), // W_V R_Oᵀ: W_OV
            };
            var qkNorm = Enumerable.Range(0, H).Select(h => ProductNorm(rQ[h], rKOfHead[h], dh)).ToArray();
            readerNorm[0] = readerNorm[1] = qkNorm;
            readerNorm[2] = ovNorm.AsSpan(l2 * H, H).ToArray();
            for (int s = 0; s < 3; s++)
                for (int l1 = 0; l1 < l2; l1++)
                {
                    cancel.ThrowIfCancellationRequested();
                    readers[s].Multiply(writers[l1], width, product, scratch);
                    Score(product, H, dh, ovNorm.AsSpan(l1 * H, H), readerNorm[s], result[s].Span.Slice(((l1 * H) * L + l2) * H), L * H);
                }
        }
        return new CompositionMatrices(result[0], result[1], result[2]);
    }

    /// <summary>
    /// The scores of one layer pair from their block product [H·dh, H·dh]: block (h1, h2)'s Frobenius norm (summed in
    /// double) over the norms of the matrices it stands for. Row h1 goes to <paramref name="into"/>[h1·stride + h2].
    /// </summary>
    private static void Score(float[] product, int H, int dh, ReadOnlySpan<double> writerNorm, ReadOnlySpan<double> readerNorm, Span<float> into, int stride)
    {
        int width = H * dh;
        Span<double> squares = stackalloc double[H];
        for (int h1 = 0; h1 < H; h1++)
        {
            squares.Clear();
            for (int i = 0; i < dh; i++)
            {
                var row = product.AsSpan((h1 * dh + i) * width, width);
                for (int h2 = 0; h2 < H; h2++)
                {
                    var part = row.Slice(h2 * dh, dh);
                    squares[h2] += Reductions.Dot(part, part);
                }
            }
            for (int h2 = 0; h2 < H; h2++)
            {
                double denominator = writerNorm[h1] * readerNorm[h2];
                into[h1 * stride + h2] = denominator > 0 ? (float)Math.Min(1, Math.Sqrt(squares[h2]) / denominator) : 0f;
            }
        }
    }

    /// <summary><see cref="GramFactor"/> of each of the <paramref name="count"/> heads in <paramref name="rows"/> [count·dh, d], one head per thread.</summary>
    private static float[][] Factors(float[] rows, int count, int d, int dh)
    {
        var factors = new float[count][];
        WorkerPool.For(count, h => factors[h] = GramFactor.Of(rows.AsSpan(h * dh * d, dh * d), dh, d));
        return factors;
    }

    /// <summary>‖A Bᵀ‖_F for A, B [n, n] in double: with X = U_A A, Y = U_B B (orthonormal U), ‖X Yᵀ‖ = ‖A Bᵀ‖.</summary>
    private static double ProductNorm(float[] a, float[] b, int n)
    {
        double sq = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                double dot = 0;
                for (int k = 0; k < n; k++) dot += (double)a[i * n + k] * b[j * n + k];
                sq += dot * dot;
            }
        return Math.Sqrt(sq);
    }
}
