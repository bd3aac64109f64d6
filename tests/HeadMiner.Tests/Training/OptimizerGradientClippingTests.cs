using HeadMiner.Tensors;
using HeadMiner.Tests.Reference;
using HeadMiner.Training;

namespace HeadMiner.Tests.Training;

public class OptimizerGradientClippingTests
{
    private static Tensor[] Gradients(float std) => [Tensor.RandomNormal(1, std, 30, 30), Tensor.RandomNormal(2, std, 17)];

    private static double ReferenceNorm(Tensor[] gradients) =>
        Math.Sqrt(gradients.Sum(g => g.ToArray().Sum(v => (double)v * v)));

    [Fact]
    public void GlobalNormCoversEveryGradient()
    {
        var gradients = Gradients(0.1f);
        Assert.Equal(ReferenceNorm(gradients), GradientClipping.GlobalNorm(gradients), 1e-12);
        Assert.Equal(5.0, GradientClipping.GlobalNorm([Tensor.FromSpan([3f], 1), Tensor.FromSpan([0f, 4f], 2)]), 15);
    }

    [Fact]
    public void NormsAboveTheLimitAreScaledDownToIt()
    {
        var gradients = Gradients(1f);
        var before = gradients.Select(g => g.ToArray()).ToArray();
        double norm = ReferenceNorm(gradients);
        const double maxNorm = 1.0;
        Assert.True(norm > 10 * maxNorm);

        double reported = GradientClipping.ClipGlobalNorm(gradients, maxNorm);

        Assert.Equal(norm, reported, 1e-12); // the pre-clip norm, for the log
        double coefficient = maxNorm / (norm + GradientClipping.NormEpsilon);
        for (int i = 0; i < gradients.Length; i++)
            Close.Elementwise(gradients[i].Span, before[i].Select(v => v * coefficient).ToArray(), rtol: 1e-6, what: $"gradient {i}");
        double after = ReferenceNorm(gradients);
        Assert.InRange(after, maxNorm - 1e-5, maxNorm + 1e-6); // float32 rounding of the scaled values
    }

    [Fact]
    public void NormsWithinTheLimitAreLeftAlone()
    {
        var gradients = Gradients(0.01f);
        var before = gradients.Select(g => g.ToArray()).ToArray();
        double reported = GradientClipping.ClipGlobalNorm(gradients, maxNorm: 1.0);
        Assert.Equal(ReferenceNorm(gradients), reported, 1e-12);
        for (int i = 0; i < gradients.Length; i++) Assert.Equal(before[i], gradients[i].ToArray());
    }

    [Theory]
    [InlineData(float.NaN), InlineData(float.PositiveInfinity), InlineData(float.NegativeInfinity)]
    public void NonFiniteGradientsAreReportedAndLeftUntouched(float bad)
    {
        var gradients = Gradients(1f);
        gradients[1].Span[5] = bad;
        var before = gradients.Select(g => g.ToArray()).ToArray();
        double reported = GradientClipping.ClipGlobalNorm(gradients, maxNorm: 1.0);
        if (float.IsNaN(bad)) Assert.True(double.IsNaN(reported));
        else Assert.Equal(double.PositiveInfinity, reported);
        for (int i = 0; i < gradients.Length; i++) Assert.Equal(before[i], gradients[i].ToArray());
    }

    [Fact]
    public void ParameterOverloadClipsTheirGradients()
    {
        var parameters = new[]
        {
            new TrainableParameter("a", Tensor.Zeros(2), Tensor.FromSpan([6f, 0f], 2)),
            new TrainableParameter("b", Tensor.Zeros(1), Tensor.FromSpan([8f], 1), Decay: false),
        };
        Assert.Equal(10.0, GradientClipping.ClipGlobalNorm(parameters, maxNorm: 5.0), 12);
        Close.Elementwise(parameters[0].Gradient.Span, [3.0, 0.0], rtol: 1e-6, what: "a");
        Close.Elementwise(parameters[1].Gradient.Span, [4.0], rtol: 1e-6, what: "b");
        Assert.Throws<ArgumentOutOfRangeException>(() => GradientClipping.ClipGlobalNorm(parameters, maxNorm: 0));
    }
}
