using HeadMiner.Tensors;

namespace HeadMiner.Tests.Tensors;

public class SeededRandomTests
{
    /// <summary>
    /// xoshiro256** as Blackman and Vigna publish it (state s[0..3], result = rotl(s[1]·5, 7)·9), seeded by
    /// SplitMix64, written out here independently of <see cref="SeededRandom"/>.
    /// </summary>
    private sealed class Xoshiro256StarStar
    {
        private readonly ulong[] _s = new ulong[4];

        public Xoshiro256StarStar(ulong seed)
        {
            ulong state = seed;
            for (int i = 0; i < 4; i++) _s[i] = SplitMix64(ref state);
        }

        public static ulong SplitMix64(ref ulong state)
        {
            state += 0x9E3779B97F4A7C15UL;
            ulong z = state;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }

        private static ulong Rotl(ulong x, int k) => (x << k) | (x >> (64 - k));

        public ulong Next()
        {
            ulong result = Rotl(_s[1] * 5, 7) * 9;
            ulong t = _s[1] << 17;
            _s[2] ^= _s[0];
            _s[3] ^= _s[1];
            _s[1] ^= _s[2];
            _s[0] ^= _s[3];
            _s[2] ^= t;
            _s[3] = Rotl(_s[3], 45);
            return result;
        }
    }

    [Fact]
    public void SplitMix64MatchesItsPublishedFirstOutput()
    {
        // SplitMix64 from state 0: the first output is the well-known 0xE220A8397B1DCDAF.
        ulong state = 0;
        Assert.Equal(0xE220A8397B1DCDAFUL, Xoshiro256StarStar.SplitMix64(ref state));
    }

    [Theory]
    [InlineData(0UL), InlineData(1UL), InlineData(42UL), InlineData(ulong.MaxValue)]
    public void SequenceIsXoshiro256StarStar(ulong seed)
    {
        var expected = new Xoshiro256StarStar(seed);
        var actual = new SeededRandom(seed);
        for (int i = 0; i < 1000; i++) Assert.Equal(expected.Next(), actual.NextUInt64());
    }

    [Fact]
    public void DerivedDrawsFollowTheirDefinitions()
    {
        var bits = new Xoshiro256StarStar(9);
        var random = new SeededRandom(9);
        Assert.Equal((bits.Next() >> 11) * Math.Pow(2, -53), random.NextDouble());
        for (int i = 0; i < 1000; i++)
        {
            int n = random.NextInt(10);
            Assert.InRange(n, 0, 9);
            Assert.Equal((int)((bits.Next() >> 33) % 10), n);
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => random.NextInt(0));
    }

    [Fact]
    public void NormalSamplesHaveMeanZeroAndUnitVariance()
    {
        var random = new SeededRandom(2024);
        const int n = 100_000;
        double sum = 0, squares = 0, fourth = 0;
        for (int i = 0; i < n; i++)
        {
            double v = random.NextNormal();
            sum += v;
            squares += v * v;
            fourth += v * v * v * v;
        }
        double mean = sum / n, variance = squares / n - mean * mean;
        // Standard errors: mean 1/√n ≈ 0.0032, variance √(2/n) ≈ 0.0045, E[x⁴] = 3 with s.e. ≈ √(96/n) ≈ 0.031: 5σ bounds.
        Assert.InRange(mean, -0.016, 0.016);
        Assert.InRange(Math.Sqrt(variance), 1 - 0.012, 1 + 0.012);
        Assert.InRange(fourth / n, 3 - 0.16, 3 + 0.16);
    }

    [Fact]
    public void UniformFloatsStayBelowTheUpperBound()
    {
        // A double just below 1 rounds to 1f: the float mapping must still stay in [low, high).
        Assert.True(SeededRandom.ToUniformFloat(1 - Math.Pow(2, -53), 0f, 1f) < 1f);
        Assert.True(SeededRandom.ToUniformFloat(1 - Math.Pow(2, -53), -2f, 3f) < 3f);
        Assert.Equal(-2f, SeededRandom.ToUniformFloat(0, -2f, 3f));
        Assert.Equal(0.5f, SeededRandom.ToUniformFloat(0.5, 0f, 1f));
    }

    [Fact]
    public void ShuffleIsAPermutationAndSeeded()
    {
        var a = Enumerable.Range(0, 100).ToArray();
        var b = Enumerable.Range(0, 100).ToArray();
        new SeededRandom(3).Shuffle<int>(a);
        new SeededRandom(3).Shuffle<int>(b);
        Assert.Equal(a, b);
        Assert.NotEqual(Enumerable.Range(0, 100), a);
        Assert.Equal(Enumerable.Range(0, 100), a.Order());
    }
}
