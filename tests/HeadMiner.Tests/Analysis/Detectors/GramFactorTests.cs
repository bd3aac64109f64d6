using HeadMiner.Analysis.Detectors;
using HeadMiner.Tensors;

namespace HeadMiner.Tests.Analysis.Detectors;

/// <summary>
/// <see cref="GramFactor"/>: an upper-triangular R with RᵀR = M Mᵀ (checked against the Gram matrix summed directly in
/// double), from Cholesky when M has full row rank and from the Householder fallback when it does not.
/// </summary>
public class GramFactorTests
{
    [Theory]
    [InlineData(1, 1, 1u)]
    [InlineData(7, 23, 2u)]
    [InlineData(13, 61, 3u)]
    public void FullRankUsesCholeskyAndReproducesTheGramMatrix(int n, int length, ulong seed)
    {
        var m = Random(n, length, seed);
        var cholesky = GramFactor.Cholesky(GramFactor.Gram(m, n, length), n);
        Assert.NotNull(cholesky);
        AssertFactors(m, n, length, cholesky);
        AssertFactors(m, n, length, GramFactor.Householder(m, n, length));
        Assert.Equal(cholesky, GramFactor.Of(m, n, length));
    }

    [Fact]
    public void ZeroRowFallsBackToHouseholder()
    {
        const int n = 5, length = 17;
        var m = Random(n, length, 4);
        m.AsSpan(2 * length, length).Clear();
        Assert.Null(GramFactor.Cholesky(GramFactor.Gram(m, n, length), n));
        var r = GramFactor.Of(m, n, length);
        Assert.Equal(GramFactor.Householder(m, n, length), r);
        AssertFactors(m, n, length, r);
        Assert.Equal(new float[n * n], GramFactor.Of(new float[n * length], n, length));
    }

    [Theory]
    [InlineData(6, 19, 5u)] // a repeated row
    [InlineData(9, 4, 6u)] // more rows than columns: rank ≤ 4
    public void RankDeficientMatricesStillReproduceTheGramMatrix(int n, int length, ulong seed)
    {
        var m = Random(n, length, seed);
        if (length > n) m.AsSpan(0, length).CopyTo(m.AsSpan(4 * length));
        AssertFactors(m, n, length, GramFactor.Of(m, n, length));
    }

    private static float[] Random(int n, int length, ulong seed)
    {
        var m = new float[n * length];
        new SeededRandom(seed).FillNormal(m, 1f);
        return m;
    }

    private static void AssertFactors(float[] m, int n, int length, float[] r)
    {
        double scale = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                if (j < i) Assert.Equal(0f, r[i * n + j]);
                double gram = 0, rtr = 0;
                for (int t = 0; t < length; t++) gram += (double)m[i * length + t] * m[j * length + t];
                for (int t = 0; t < n; t++) rtr += (double)r[t * n + i] * r[t * n + j];
                scale = Math.Max(scale, Math.Abs(gram));
                Assert.True(Math.Abs(gram - rtr) <= 1e-6 * Math.Max(1, length), $"(RᵀR)[{i},{j}] = {rtr}, M Mᵀ = {gram}");
            }
        Assert.True(scale > 0 || r.All(v => v == 0));
    }
}
