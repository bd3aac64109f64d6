using HeadMiner.Analysis.Detectors;
using HeadMiner.Models;
using HeadMiner.Tests.Models;
using Xunit.Abstractions;

namespace HeadMiner.Tests.Analysis.Detectors;

/// <summary>
/// <see cref="CompositionScores"/> against a plain reference that forms W_OV = W_V W_O and W_QK = W_Q W_Kᵀ as explicit
/// d_model × d_model matrices in double and takes ‖A B‖ / (‖A‖ ‖B‖) directly (0 where a norm is 0): every parity
/// checkpoint (their real storage layouts, grouped and multi-query heads, d_head·heads ≠ d_model), random models
/// with odd sizes, and heads that are zero or rank-deficient (where the Cholesky factor gives way to Householder QR).
/// </summary>
public class CompositionScoresTests(ITestOutputHelper output)
{
    // The scores lie in [0, 1]; here they differ from the double reference by at most ~4e-8 (float32 GEMMs).
    private const double Tolerance = 1e-6;

    [Theory]
    [MemberData(nameof(ArchitectureParityTests.Fixtures), MemberType = typeof(ArchitectureParityTests))]
    public void ParityCheckpointsMatchExplicitMatrices(string name)
    {
        using var loaded = ModelLoader.Load(TestPaths.Fixture("parity", name));
        AssertMatchesReference(loaded.Model, name);
    }

    [Theory]
    [InlineData(5, 5, 23, 7, 3, 11u)] // one query head per k/v head (GPT-2): factors folded into the readers
    [InlineData(6, 2, 27, 5, 4, 12u)] // groups of 3
    [InlineData(6, 1, 19, 9, 3, 13u)] // multi-query: one k/v head for all; heads · d_head = 54 > d_model
    [InlineData(4, 2, 21, 6, 3, 14u)]
    public void RandomModelsMatchExplicitMatrices(int heads, int kvHeads, int dModel, int dHead, int layers, ulong seed)
    {
        var model = RandomModel(heads, kvHeads, dModel, dHead, layers, seed);
        AssertMatchesReference(model, $"H={heads} G={kvHeads} d={dModel} dh={dHead}");
    }

    [Fact]
    public void ZeroAndRankDeficientHeadsMatchExplicitMatrices()
    {
        var model = RandomModel(heads: 6, kvHeads: 2, dModel: 27, dHead: 5, layers: 4, seed: 21);
        var blocks = model.Weights.Blocks;
        int d = model.Config.DModel, dh = model.Config.DHead;
        for (int i = 0; i < d; i++)
        {
            blocks[1].W_Q[2, i, 3] = blocks[1].W_Q[2, i, 0]; // two equal columns: singular Gram matrix
            blocks[1].W_V[0, i, 1] = 0; // a zero column: a zero pivot
            blocks[3].W_O[1, 2, i] = 2 * blocks[3].W_O[1, 0, i]; // dependent rows of W_O
            blocks[0].W_O[4, 0, i] = blocks[0].W_O[4, 1, i] = blocks[0].W_O[4, 2, i] = blocks[0].W_O[4, 3, i] = blocks[0].W_O[4, 4, i] = 0; // a head that writes nothing
            for (int j = 0; j < dh; j++) blocks[2].W_K[1, i, j] = 0; // a k/v head that reads nothing: W_QK = 0 for heads 3–5
        }
        var m = AssertMatchesReference(model, "degenerate heads");
        for (int h2 = 0; h2 < 6; h2++) Assert.Equal(0f, m.V[0, 4, 1, h2]);
        for (int h1 = 0; h1 < 6; h1++) Assert.Equal(0f, m.K[1, h1, 2, 4]);
    }

    private static Transformer RandomModel(int heads, int kvHeads, int dModel, int dHead, int layers, ulong seed)
    {
        var config = TinyModels.LlamaLike(layers) with { DModel = dModel, DHead = dHead, RotaryDim = dHead - dHead % 2, Heads = heads, KvHeads = kvHeads };
        return TinyModels.Create(config, seed);
    }

    private CompositionMatrices AssertMatchesReference(Transformer model, string label)
    {
        var c = model.Config;
        int L = c.Layers, H = c.Heads, d = c.DModel;
        var m = CompositionScores.Compute(model);
        var w = model.Weights.Blocks;
        var ov = new double[L, H][];
        var qk = new double[L, H][];
        for (int l = 0; l < L; l++)
            for (int h = 0; h < H; h++)
            {
                int g = c.KvHeadOf(h);
                ov[l, h] = Product(w[l].W_V.Select(0, g).ToArray(), w[l].W_O.Select(0, h).Transpose(0, 1).ToArray(), d, c.DHead);
                qk[l, h] = Product(w[l].W_Q.Select(0, h).ToArray(), w[l].W_K.Select(0, g).ToArray(), d, c.DHead);
            }
        double worst = 0;
        for (int l1 = 0; l1 < L; l1++)
            for (int h1 = 0; h1 < H; h1++)
                for (int l2 = 0; l2 < L; l2++)
                    for (int h2 = 0; h2 < H; h2++)
                    {
                        if (l1 >= l2)
                        {
                            Assert.True(float.IsNaN(m.Q[l1, h1, l2, h2]) && float.IsNaN(m.K[l1, h1, l2, h2]) && float.IsNaN(m.V[l1, h1, l2, h2]));
                            continue;
                        }
                        var a = ov[l1, h1];
                        var expected = new[]
                        {
                            Score(a, qk[l2, h2], d, transposeB: false),
                            Score(a, qk[l2, h2], d, transposeB: true),
                            Score(a, ov[l2, h2], d, transposeB: false),
                        };
                        var actual = new[] { m.Q[l1, h1, l2, h2], m.K[l1, h1, l2, h2], m.V[l1, h1, l2, h2] };
                        for (int s = 0; s < 3; s++)
                        {
                            double error = Math.Abs(actual[s] - expected[s]);
                            worst = Math.Max(worst, error);
                            Assert.True(error <= Tolerance, $"{label}: {"QKV"[s]}[{l1},{h1},{l2},{h2}] = {actual[s]}, explicit {expected[s]}");
                        }
                    }
        output.WriteLine($"{label}: max |Δ| = {worst:G3}");
        return m;
    }

    /// <summary>x [d, k] · yᵀ (y [d, k]) as a d × d array in double.</summary>
    private static double[] Product(float[] x, float[] y, int d, int k)
    {
        var r = new double[d * d];
        for (int i = 0; i < d; i++)
            for (int j = 0; j < d; j++)
            {
                double sum = 0;
                for (int t = 0; t < k; t++) sum += (double)x[i * k + t] * y[j * k + t];
                r[i * d + j] = sum;
            }
        return r;
    }

    /// <summary>‖A B‖ / (‖A‖ ‖B‖) (or with Bᵀ), 0 where a norm is 0.</summary>
    private static double Score(double[] a, double[] b, int d, bool transposeB)
    {
        double product = 0;
        for (int i = 0; i < d; i++)
            for (int j = 0; j < d; j++)
            {
                double sum = 0;
                for (int t = 0; t < d; t++) sum += a[i * d + t] * (transposeB ? b[j * d + t] : b[t * d + j]);
                product += sum * sum;
            }
        double norms = Math.Sqrt(a.Sum(v => v * v)) * Math.Sqrt(b.Sum(v => v * v));
        return norms > 0 ? Math.Sqrt(product) / norms : 0;
    }
}
