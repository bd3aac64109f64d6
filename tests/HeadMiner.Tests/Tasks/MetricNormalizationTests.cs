using HeadMiner.Tasks;

namespace HeadMiner.Tests.Tasks;

public class MetricNormalizationTests
{
    [Fact]
    public void NormalisingByAClearDifferenceIsTheUsualRatio()
    {
        Assert.Equal(0.5, Metric.Normalize(1.5, clean: 2, corrupted: 1));
        Assert.Equal(-1, Metric.Normalize(0, clean: 1, corrupted: 0.5));
        Assert.False(Metric.IsDegenerate(1e-3, 0));
        Assert.Null(Metric.DegenerateWarning("logit_diff", 2, 1, []));
    }

    [Theory]
    [InlineData(5.0, 5.0)]          // equal: the ratio is undefined
    [InlineData(5.0, 5.00001)]      // 2·10⁻⁶ of the scale: rounding noise of float32 logits
    [InlineData(0.0, 1e-7)]         // both near zero: below the floor of 10⁻⁶
    [InlineData(double.NaN, 1.0)]
    public void ADenominatorAtRoundingLevelGivesNaNNotAHugeRatio(double clean, double corrupted)
    {
        Assert.True(Metric.IsDegenerate(clean, corrupted));
        Assert.True(double.IsNaN(Metric.Normalize(3, clean, corrupted)));
    }

    [Fact]
    public void TheWarningGivesTheDenominatorAndNamesTheDegeneratePairs()
    {
        Assert.Equal([1, 3], Metric.DegeneratePairs([1, 2, 3, 4], [0, 2, 2.5, 4]));
        string warning = Metric.DegenerateWarning("prob_diff", 0.25, 0.25, [1, 3])!;
        Assert.StartsWith("warning: prob_diff clean − corrupted = 0 (clean 0.25, corrupted 0.25) is too small to normalise by: normalised values are written as null", warning);
        Assert.Contains("pair(s) whose clean and corrupted runs give the same prob_diff: 1, 3.", warning);
    }
}
