using HeadMiner.Tasks.Synthetic;
using HeadMiner.Tensors;

namespace HeadMiner.Tests.Synthetic;

public class MarkovChainTests
{
    [Theory]
    [InlineData(0.3)]
    [InlineData(1.0)]
    [InlineData(4.5)]
    public void GammaDrawsHaveTheShapesMeanAndVariance(double shape)
    {
        var random = new SeededRandom(5);
        const int n = 200_000;
        double sum = 0, sumSquares = 0;
        for (int i = 0; i < n; i++)
        {
            double x = DirichletSampler.Gamma(random, shape);
            Assert.True(x >= 0);
            sum += x;
            sumSquares += x * x;
        }
        double mean = sum / n, variance = sumSquares / n - mean * mean;
        // Gamma(k, 1): mean k, variance k; the mean's standard error is sqrt(k / n).
        Assert.InRange(mean, shape - 5 * Math.Sqrt(shape / n), shape + 5 * Math.Sqrt(shape / n));
        Assert.InRange(variance, shape * 0.95, shape * 1.05);
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(1.0)]
    [InlineData(3.0)]
    public void DirichletRowsSumToOneWithTheRightSpread(double alpha)
    {
        const int k = 5, n = 40_000;
        var random = new SeededRandom(9);
        var row = new double[k];
        double sumFirst = 0, sumFirstSquares = 0;
        for (int i = 0; i < n; i++)
        {
            DirichletSampler.Sample(random, alpha, row);
            Assert.Equal(1.0, row.Sum(), 12);
            sumFirst += row[0];
            sumFirstSquares += row[0] * row[0];
        }
        double mean = sumFirst / n, variance = sumFirstSquares / n - mean * mean;
        double expectedVariance = (1.0 / k) * (1 - 1.0 / k) / (k * alpha + 1);
        Assert.InRange(mean, 1.0 / k - 5 * Math.Sqrt(expectedVariance / n), 1.0 / k + 5 * Math.Sqrt(expectedVariance / n));
        Assert.InRange(variance, expectedVariance * 0.93, expectedVariance * 1.07);
    }

    [Fact]
    public void ALongWalkFollowsItsMatrix()
    {
        var chain = new MarkovChain(firstTokenId: 50, stateCount: 4, concentration: 1.0);
        var random = new SeededRandom(21);
        var matrix = chain.DrawTransitionMatrix(random);
        var tokens = new int[100_000];
        var labels = new PredictionKind[tokens.Length];
        chain.Walk(random, matrix, tokens, labels);
        var counts = TransitionCounts(tokens, 50, 4);
        for (int from = 0; from < 4; from++)
        {
            double rowTotal = Enumerable.Range(0, 4).Sum(to => counts[from, to]);
            for (int to = 0; to < 4; to++)
            {
                double p = matrix[from * 4 + to], observed = counts[from, to] / rowTotal;
                double sigma = Math.Sqrt(p * (1 - p) / rowTotal);
                Assert.InRange(observed, p - 5 * sigma - 1e-9, p + 5 * sigma + 1e-9);
            }
        }
    }

    [Fact]
    public void GeneratedSequencesFollowTheirOwnMatricesNotEachOthers()
    {
        const int states = 3;
        var chain = new MarkovChain(firstTokenId: 7, stateCount: states, concentration: 1.0, bosId: 0);
        var data = chain.Generate(300, 201, seed: 4);
        // z = (n_ij − n_i p_ij) / sqrt(n_i p_ij (1 − p_ij)): given n_i the transitions out of i are Binomial(n_i, p_ij), so
        // E[z²] = 1 with the right matrix. Another sequence's matrix makes the residuals large.
        double own = MeanSquaredResidual(chain, data, seed: 4, shift: 0);
        double others = MeanSquaredResidual(chain, data, seed: 4, shift: 1);
        Assert.InRange(own, 0.85, 1.15);
        Assert.True(others > 5, $"with other sequences' matrices the mean z² is only {others}");
        foreach (var (tokens, labels) in data.Tokens.Zip(data.Labels))
        {
            Assert.Equal(0, tokens[0]);
            Assert.Equal([PredictionKind.Special, PredictionKind.Random], labels[..2]);
            Assert.All(labels[2..], l => Assert.Equal(PredictionKind.Markov, l));
            Assert.All(tokens[1..], t => Assert.InRange(t, 7, 7 + states - 1));
        }
        Assert.Equal(data.Tokens, chain.Generate(300, 201, seed: 4).Tokens);
        Assert.NotEqual(data.Tokens, chain.Generate(300, 201, seed: 5).Tokens);
    }

    private static double MeanSquaredResidual(MarkovChain chain, SyntheticSequences data, ulong seed, int shift)
    {
        int k = chain.StateCount;
        double sum = 0;
        int terms = 0;
        for (int s = 0; s < data.Count; s++)
        {
            var matrix = chain.TransitionMatrixOf(seed, (s + shift) % data.Count);
            var counts = TransitionCounts(data.Tokens[s][1..], chain.FirstTokenId, k);
            for (int from = 0; from < k; from++)
            {
                double n = Enumerable.Range(0, k).Sum(to => counts[from, to]);
                for (int to = 0; to < k; to++)
                {
                    double p = Math.Clamp(matrix[from * k + to], 1e-12, 1 - 1e-12);
                    // The usual chi-square condition: skip cells whose expected count is too small for the normal approximation.
                    if (n * p < 5 || n * (1 - p) < 5) continue;
                    double z = (counts[from, to] - n * p) / Math.Sqrt(n * p * (1 - p));
                    sum += z * z;
                    terms++;
                }
            }
        }
        Assert.True(terms > 500, $"only {terms} cells were testable");
        return sum / terms;
    }

    private static int[,] TransitionCounts(int[] tokens, int firstId, int states)
    {
        var counts = new int[states, states];
        for (int i = 1; i < tokens.Length; i++) counts[tokens[i - 1] - firstId, tokens[i] - firstId]++;
        return counts;
    }
}
