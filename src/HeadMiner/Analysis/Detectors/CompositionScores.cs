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
/// with X = U R (thin QR, U orthonormal columns) ‖A Xᵀ‖ = ‖A Rᵀ‖, so every product shrinks to d_head-sized factors
/// and all pairs of two layers come from one GEMM. Weights are used as the model holds them (fold LayerNorm for
/// TransformerLens's numbers); only attention weights are read, so weights-only checkpoints work.
/// </summary>
public static class CompositionScores
{
    public static CompositionMatrices Compute(Transformer model, CancellationToken cancel = default)
    {
        var c = model.Config;
        int L = c.Layers, H = c.Heads, d = c.DModel, dh = c.DHead, width = H * dh;
        // Every layer's writers are kept (each later layer reads them all); a layer's readers are formed when its turn
        // comes and dropped after: a 1B model's readers of all layers would be 3 × 16 × 16 MiB.
        var writers = new float[L][];
        var writerNorm = new double[L * H];
        for (int l = 0; l < L; l++)
        {
            cancel.ThrowIfCancellationRequested();
            writers[l] = Writers(model, l, writerNorm);
        }
        var result = new Tensor[3];
        for (int s = 0; s < 3; s++) result[s] = Tensor.Full(float.NaN, L, H, L, H);
        var product = new float[width * width];
        var readerNorm = new double[3][];
        for (int s = 0; s < 3; s++) readerNorm[s] = new double[L * H];
        for (int l2 = 1; l2 < L; l2++)
        {
            var readers = Readers(model, l2, readerNorm);
            for (int s = 0; s < 3; s++)
            {
                var m = result[s];
                for (int l1 = 0; l1 < l2; l1++)
                {
                    cancel.ThrowIfCancellationRequested();
                    Gemm.Multiply(false, false, width, width, d, 1f, writers[l1], d, readers[s], width, 0f, product, width);
                    for (int h1 = 0; h1 < H; h1++)
                        for (int h2 = 0; h2 < H; h2++)
                        {
                            double sq = 0;
                            for (int i = 0; i < dh; i++)
                            {
                                var row = product.AsSpan((h1 * dh + i) * width + h2 * dh, dh);
                                foreach (var x in row) sq += (double)x * x;
                            }
                            double denominator = writerNorm[l1 * H + h1] * readerNorm[s][l2 * H + h2];
                            m[l1, h1, l2, h2] = denominator > 0 ? (float)Math.Min(1, Math.Sqrt(sq) / denominator) : 0f;
                        }
                }
            }
        }
        return new CompositionMatrices(result[0], result[1], result[2]);
    }

    /// <summary>Layer <paramref name="l"/>'s writers [H·dh, d]: per head R_V · W_O (dh × d), which stands for W_OV = W_V W_O; records their norms.</summary>
    private static float[] Writers(Transformer model, int l, double[] norms)
    {
        var c = model.Config;
        int H = c.Heads, d = c.DModel, dh = c.DHead;
        var b = model.Weights.Blocks[l];
        var rV = new float[c.KvHeads][];
        for (int g = 0; g < c.KvHeads; g++) rV[g] = RFactor(b.W_V.Select(0, g), d, dh);
        var writers = new float[H * dh * d];
        for (int h = 0; h < H; h++)
        {
            var o = b.W_O.Select(0, h).Contiguous();
            var writer = writers.AsSpan(h * dh * d, dh * d);
            Gemm.Multiply(false, false, dh, d, dh, 1f, rV[c.KvHeadOf(h)], dh, o.Span, d, 0f, writer, d);
            norms[l * H + h] = Norm(writer);
        }
        return writers;
    }

    /// <summary>
    /// Layer <paramref name="l"/>'s readers, each [d, H·dh] with head h in column block h: W_Q R_Kᵀ (Q side, W_QK),
    /// W_K R_Qᵀ (K side, W_QKᵀ), W_V R_Oᵀ (V side, W_OV); records their norms.
    /// </summary>
    private static float[][] Readers(Transformer model, int l, double[][] norms)
    {
        var c = model.Config;
        int H = c.Heads, d = c.DModel, dh = c.DHead, width = H * dh;
        var b = model.Weights.Blocks[l];
        var rK = new float[c.KvHeads][];
        for (int g = 0; g < c.KvHeads; g++) rK[g] = RFactor(b.W_K.Select(0, g), d, dh);
        var readers = new float[3][];
        for (int s = 0; s < 3; s++) readers[s] = new float[d * width];
        for (int h = 0; h < H; h++)
        {
            int g = c.KvHeadOf(h);
            var o = b.W_O.Select(0, h).Contiguous();
            var q = b.W_Q.Select(0, h).Contiguous();
            var k = b.W_K.Select(0, g).Contiguous();
            var v = b.W_V.Select(0, g).Contiguous();
            var rQ = RFactor(q, d, dh);
            var rO = RFactor(o.Transpose(0, 1), d, dh);
            MultiplyInto(q.Span, rK[g], readers[0], h, d, dh, width, norms[0], l * H + h);
            MultiplyInto(k.Span, rQ, readers[1], h, d, dh, width, norms[1], l * H + h);
            MultiplyInto(v.Span, rO, readers[2], h, d, dh, width, norms[2], l * H + h);
        }
        return readers;
    }

    /// <summary>The d × dh matrix <paramref name="x"/> times Rᵀ (R dh × dh) into column block <paramref name="h"/> of a [d, width] matrix; records the block's norm.</summary>
    private static void MultiplyInto(ReadOnlySpan<float> x, float[] r, float[] into, int h, int d, int dh, int width, double[] norms, int index)
    {
        Gemm.Multiply(false, true, d, dh, dh, 1f, x, dh, r, dh, 0f, into.AsSpan(h * dh), width);
        double sq = 0;
        for (int i = 0; i < d; i++)
            foreach (var v in into.AsSpan(i * width + h * dh, dh)) sq += (double)v * v;
        norms[index] = Math.Sqrt(sq);
    }

    private static double Norm(ReadOnlySpan<float> values)
    {
        double sq = 0;
        foreach (var v in values) sq += (double)v * v;
        return Math.Sqrt(sq);
    }

    /// <summary>R of the thin QR of <paramref name="x"/> [rows, cols] (Householder, double): xᵀx = RᵀR; [cols, cols] row-major, upper triangular.</summary>
    internal static float[] RFactor(Tensor x, int rows, int cols)
    {
        var a = new double[rows, cols];
        var values = x.Contiguous().Span;
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++) a[i, j] = values[i * cols + j];
        var v = new double[rows];
        for (int j = 0; j < Math.Min(rows, cols); j++)
        {
            double norm = 0;
            for (int i = j; i < rows; i++) norm += a[i, j] * a[i, j];
            norm = Math.Sqrt(norm);
            if (norm == 0) continue;
            double alpha = a[j, j] > 0 ? -norm : norm;
            double vv = 0;
            for (int i = j; i < rows; i++)
            {
                v[i] = a[i, j] - (i == j ? alpha : 0);
                vv += v[i] * v[i];
            }
            if (vv == 0) continue;
            for (int col = j; col < cols; col++)
            {
                double dot = 0;
                for (int i = j; i < rows; i++) dot += v[i] * a[i, col];
                double f = 2 * dot / vv;
                for (int i = j; i < rows; i++) a[i, col] -= f * v[i];
            }
        }
        var r = new float[cols * cols];
        for (int i = 0; i < Math.Min(rows, cols); i++)
            for (int j = i; j < cols; j++) r[i * cols + j] = (float)a[i, j];
        return r;
    }
}
