using System.Numerics;
using HeadMiner.Analysis.Detectors;
using HeadMiner.Models;
using HeadMiner.Tensors;
using HeadMiner.Tests.Models;

namespace HeadMiner.Tests.Analysis.Detectors;

/// <summary>The weight scores against plain, independent computations: eigenvalues via power sums, composition from explicit d × d matrices.</summary>
public class DetectorMathTests
{
    /// <summary>Σ λᵏ = tr(Aᵏ) for k = 1..n determines the eigenvalues (Newton's identities), so matching all n power sums checks them all.</summary>
    [Theory]
    [InlineData(1, 1u)]
    [InlineData(2, 2u)]
    [InlineData(7, 3u)]
    [InlineData(13, 4u)]
    public void EigenvaluesMatchPowerSumsOfRandomMatrices(int n, ulong seed)
    {
        var rng = new SeededRandom(seed);
        var a = new double[n * n];
        for (int i = 0; i < a.Length; i++) a[i] = rng.NextNormal();
        var eig = RealEigenvalues.Compute(a, n);
        Assert.Equal(n, eig.Length);
        var power = (double[])a.Clone();
        for (int k = 1; k <= n; k++)
        {
            double trace = 0;
            for (int i = 0; i < n; i++) trace += power[i * n + i];
            var sum = eig.Aggregate(Complex.Zero, (s, e) => s + Complex.Pow(e, k));
            double scale = Math.Max(1, eig.Sum(e => Math.Pow(e.Magnitude, k)));
            Assert.True(Math.Abs(sum.Real - trace) < 1e-9 * scale, $"k={k}: Σλ^k = {sum}, trace = {trace}");
            Assert.True(Math.Abs(sum.Imaginary) < 1e-9 * scale, $"k={k}: Σλ^k = {sum} is not real");
            power = Multiply(power, a, n);
        }
    }

    [Fact]
    public void EigenvaluesOfKnownMatrices()
    {
        // A rotation by 90° scaled by 2: eigenvalues ±2i; with a zero row/column added, also 0.
        var eig = RealEigenvalues.Compute([0, -2, 0, 2, 0, 0, 0, 0, 0], 3);
        Assert.Equal([-2.0, 0.0, 2.0], eig.Select(e => Math.Round(e.Imaginary, 12)).Order());
        Assert.All(eig, e => Assert.Equal(0, e.Real, 12));
        // Upper triangular: the diagonal.
        var tri = RealEigenvalues.Compute([3, 5, 7, 0, -1, 2, 0, 0, 0.5], 3);
        Assert.Equal([-1.0, 0.5, 3.0], tri.Select(e => Math.Round(e.Real, 12)).Order());
        var error = Assert.Throws<HeadMinerException>(() => RealEigenvalues.Compute([double.NaN], 1));
        Assert.Contains("non-finite", error.Message);
    }

    /// <summary>The d_head factor's eigenvalue score equals the score of the full vocab × vocab circuit built explicitly.</summary>
    [Fact]
    public void OvFactorScoreEqualsFullCircuitScore()
    {
        var config = TinyModels.LlamaLike() with { VocabSize = 29 }; // GQA: 4 query heads on 2 k/v heads
        var model = TinyModels.Create(config, seed: 11);
        var factors = OvCircuit.Factors(model);
        var w = model.Weights;
        int V = config.VocabSize, d = config.DModel, dh = config.DHead;
        for (int l = 0; l < config.Layers; l++)
            for (int h = 0; h < config.Heads; h++)
            {
                var wv = w.Blocks[l].W_V.Select(0, config.KvHeadOf(h));
                var wo = w.Blocks[l].W_O.Select(0, h);
                var full = new double[V * V];
                for (int s = 0; s < V; s++)
                {
                    var z = new double[dh];
                    for (int k = 0; k < dh; k++)
                        for (int i = 0; i < d; i++) z[k] += w.W_E[s, i] * wv[i, k];
                    var x = new double[d];
                    for (int i = 0; i < d; i++)
                        for (int k = 0; k < dh; k++) x[i] += z[k] * wo[k, i];
                    for (int t = 0; t < V; t++)
                        for (int i = 0; i < d; i++) full[s * V + t] += x[i] * w.W_U[i, t];
                }
                var fullEig = RealEigenvalues.Compute(full, V);
                double expected = fullEig.Sum(e => e.Real) / fullEig.Sum(e => e.Magnitude);
                var (score, _, _, _) = OvCopyingDetector.EigenScore(factors[l][h], dh);
                Assert.Equal(expected, score, 3e-3);
            }
    }

    /// <summary>Composition scores from the thin-QR shortcut equal ‖AB‖/(‖A‖‖B‖) of the explicit d_model × d_model matrices (GQA model).</summary>
    [Fact]
    public void CompositionMatchesExplicitMatrices()
    {
        var config = TinyModels.LlamaLike(layers: 3) with { DModel = 21, DHead = 6, RotaryDim = 6, Heads = 4, KvHeads = 2 };
        var model = TinyModels.Create(config, seed: 5);
        var m = CompositionScores.Compute(model);
        int L = config.Layers, H = config.Heads, d = config.DModel;
        double[] Ov(int l, int h) => Product(model.Weights.Blocks[l].W_V.Select(0, config.KvHeadOf(h)), model.Weights.Blocks[l].W_O.Select(0, h), d, false);
        double[] Qk(int l, int h) => Product(model.Weights.Blocks[l].W_Q.Select(0, h), model.Weights.Blocks[l].W_K.Select(0, config.KvHeadOf(h)), d, true);
        for (int l1 = 0; l1 < L; l1++)
            for (int h1 = 0; h1 < H; h1++)
                for (int l2 = 0; l2 < L; l2++)
                    for (int h2 = 0; h2 < H; h2++)
                    {
                        if (l1 >= l2)
                        {
                            Assert.True(float.IsNaN(m.K[l1, h1, l2, h2]));
                            continue;
                        }
                        var ov1 = Ov(l1, h1);
                        var qk2 = Qk(l2, h2);
                        var ov2 = Ov(l2, h2);
                        Assert.Equal(Score(ov1, qk2, d), m.Q[l1, h1, l2, h2], 1e-4);
                        Assert.Equal(Score(ov1, Transpose(qk2, d), d), m.K[l1, h1, l2, h2], 1e-4);
                        Assert.Equal(Score(ov1, ov2, d), m.V[l1, h1, l2, h2], 1e-4);
                    }
    }

    /// <summary>Random weights compose at about the 1/√d_model baseline the detector reports.</summary>
    [Fact]
    public void RandomWeightsComposeNearTheBaseline()
    {
        var config = TinyModels.Gpt2Like(layers: 3) with { DModel = 45, DHead = 9, Heads = 5, KvHeads = 5 };
        var model = new Transformer(config, RandomWeights.Create(config, 17, 0.02f, biases: false), "random");
        var result = new KCompositionDetector().Run(new DetectorContext(model));
        var k = result.Matrices["k_composition"].ToArray().Where(v => !float.IsNaN(v)).ToArray();
        double mean = k.Average();
        Assert.Equal(1 / Math.Sqrt(config.DModel), result.Baseline!.Value, 12);
        Assert.InRange(mean, 0.7 * result.Baseline.Value, 1.3 * result.Baseline.Value);
    }

    private static double Score(double[] a, double[] b, int d) => Frobenius(Multiply(a, b, d)) / (Frobenius(a) * Frobenius(b));

    private static double Frobenius(double[] a) => Math.Sqrt(a.Sum(v => v * v));

    /// <summary>x [d, k] times y [k, d] (or yᵀ when <paramref name="transposeY"/>: y [d, k]), as a d × d array.</summary>
    private static double[] Product(Tensor x, Tensor y, int d, bool transposeY)
    {
        int k = x.Dim(1);
        var r = new double[d * d];
        for (int i = 0; i < d; i++)
            for (int j = 0; j < d; j++)
                for (int t = 0; t < k; t++) r[i * d + j] += x[i, t] * (transposeY ? y[j, t] : y[t, j]);
        return r;
    }

    private static double[] Transpose(double[] a, int n)
    {
        var r = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) r[j * n + i] = a[i * n + j];
        return r;
    }

    private static double[] Multiply(double[] a, double[] b, int n)
    {
        var r = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int k = 0; k < n; k++)
                for (int j = 0; j < n; j++) r[i * n + j] += a[i * n + k] * b[k * n + j];
        return r;
    }
}
