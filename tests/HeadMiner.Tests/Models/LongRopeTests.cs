using HeadMiner.Models;

namespace HeadMiner.Tests.Models;

/// <summary>
/// Phi-3's LongRoPE: the short factors while a pass stays within the original context, the long ones for the whole
/// pass once it goes beyond (Hugging Face decides from max(position_ids) + 1), and the attention factor on cos and sin.
/// </summary>
public class LongRopeTests
{
    private static readonly LongRopeScaling Scaling = new([1.5, 1.1, 2.5, 1.05], [3.0, 5.5, 12.0, 40.0], 16, 1.25);

    [Theory]
    [InlineData(16, false)]
    [InlineData(17, true)]
    public void TablesUseTheFactorsOfThePassLengthTimesTheAttentionFactor(int positions, bool useLong)
    {
        var tables = new RotaryTables(8, 10000, null, Scaling);
        var (cos, sin) = tables.For(positions);
        var factors = useLong ? Scaling.LongFactors : Scaling.ShortFactors;
        for (int p = 0; p < positions; p++)
            for (int i = 0; i < 4; i++)
            {
                double angle = p * Math.Pow(10000, -2.0 * i / 8) / factors[i];
                Assert.Equal(1.25 * Math.Cos(angle), cos[p * 4 + i], 1e-6);
                Assert.Equal(1.25 * Math.Sin(angle), sin[p * 4 + i], 1e-6);
            }
    }

    [Fact]
    public void AShortPassAfterALongOneGetsTheShortTablesAgain()
    {
        var tables = new RotaryTables(8, 10000, null, Scaling);
        var (longCos, _) = tables.For(40);
        var (shortCos, _) = tables.For(10);
        // Position 1, frequency 1: cos(θ/5.5) vs cos(θ/1.1) with θ = 10000^(-1/4) = 0.1.
        Assert.Equal(1.25 * Math.Cos(0.1 / 5.5), longCos[4 + 1], 1e-6);
        Assert.Equal(1.25 * Math.Cos(0.1 / 1.1), shortCos[4 + 1], 1e-6);
    }

    [Theory]
    [InlineData(1.0, 8, 1.0)]                        // no extension: no attention factor
    [InlineData(0.5, 8, 1.0)]
    [InlineData(32.0, 4096, 1.1902380714238083)]     // Phi-3-mini-128k: 131072 / 4096 → √(1 + ln 32 / ln 4096) = √(17/12)
    public void DefaultAttentionFactorIsHuggingFaces(double scale, int original, double expected) =>
        Assert.Equal(expected, LongRopeScaling.DefaultAttentionFactor(scale, original), 12);

    [Fact]
    public void GoingPastTheOriginalLengthChangesTheLogitsOfEveryEarlierPosition()
    {
        // phi3's original_max_position_embeddings is 16: 16 tokens use the short factors, 17 the long ones for all
        // positions, so the first 16 positions' logits differ although causality alone would keep them equal.
        using var loaded = ModelLoader.Load(TestPaths.Fixture("parity", "phi3"));
        var model = loaded.Model;
        int v = model.Config.VocabSize;
        int[] ids = [.. Enumerable.Range(0, 17).Select(i => 1 + i * 7 % (v - 1))];
        var within = model.Forward(ids.AsSpan(0, 16)).ToArray();
        var beyond = model.Forward(ids).ToArray();
        float maxDiff = 0;
        for (int j = 0; j < 16 * v; j++) maxDiff = Math.Max(maxDiff, Math.Abs(within[j] - beyond[j]));
        Assert.True(maxDiff > 0.01f, $"positions 0–15 moved by only {maxDiff} when the pass grew past the original length");
        // Within the original length a longer pass is only causal: 15 tokens give the first 15 positions of 16.
        var shorter = model.Forward(ids.AsSpan(0, 15)).ToArray();
        for (int j = 0; j < 15 * v; j++) Assert.Equal(within[j], shorter[j], 1e-5f);
    }
}
