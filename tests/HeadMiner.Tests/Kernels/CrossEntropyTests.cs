using HeadMiner.Tensors.Kernels;
using HeadMiner.Tests.Reference;
using Ref = HeadMiner.Tests.Reference.ScalarKernels;

namespace HeadMiner.Tests.Kernels;

public class CrossEntropyTests
{
    [Theory]
    [InlineData(1), InlineData(7), InlineData(65), InlineData(768), InlineData(50257)]
    public void LossesAndGradientMatchReference(int vocab)
    {
        int rows = vocab >= 50257 ? 3 : 5;
        var logits = Inputs.Normal((ulong)vocab, rows * vocab, std: 3f);
        var targets = Enumerable.Range(0, rows).Select(r => (r * 7919) % vocab).ToArray();
        targets[1] = CrossEntropy.DefaultIgnoreIndex;
        var losses = new float[rows];
        int counted = CrossEntropy.RowLosses(logits, rows, vocab, targets, losses);
        Assert.Equal(rows - 1, counted);

        double total = 0;
        var lossGradient = new float[rows];
        for (int r = 0; r < rows; r++)
        {
            if (r == 1)
            {
                Assert.Equal(0f, losses[r]);
                continue;
            }
            double expected = Ref.CrossEntropy(Ref.ToDouble(logits.AsSpan(r * vocab, vocab)), targets[r]);
            Close.Elementwise(losses.AsSpan(r, 1), [expected], rtol: 1e-6, atol: 1e-6, what: $"loss[{r}]");
            total += expected;
            lossGradient[r] = 1f / counted;
        }
        Assert.Equal(total / counted, CrossEntropy.MeanLoss(logits, rows, vocab, targets), 1e-6 * (1 + total));

        var dLogits = new float[rows * vocab];
        CrossEntropy.Backward(logits, rows, vocab, targets, lossGradient, dLogits);
        for (int r = 0; r < rows; r++)
        {
            var row = dLogits.AsSpan(r * vocab, vocab);
            if (r == 1)
            {
                Assert.All(row.ToArray(), v => Assert.Equal(0f, v));
                continue;
            }
            var expected = Ref.CrossEntropyGradient(Ref.ToDouble(logits.AsSpan(r * vocab, vocab)), targets[r]).Select(v => v / counted).ToArray();
            Close.Scaled(row, expected, what: $"dlogits[{r}]");
        }

        CrossEntropy.Backward(logits, rows, vocab, targets, lossGradient, logits); // in place over the logits
        Assert.Equal(dLogits, logits);
    }

    [Theory]
    [InlineData(1), InlineData(7), InlineData(65)]
    public void ReferenceGradientMatchesFiniteDifferences(int vocab)
    {
        var logits = Ref.ToDouble(Inputs.Normal(10 + (ulong)vocab, vocab, std: 2f));
        int target = vocab / 2;
        var numeric = Ref.FiniteDifferenceGradient(logits, [1.0], v => [Ref.CrossEntropy(v, target)]);
        Close.Scaled(numeric, Ref.CrossEntropyGradient(logits, target), 1e-6, "finite differences");
    }

    [Fact]
    public void TargetOutsideVocabularyNamesTheRow()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => CrossEntropy.RowLosses(new float[12], 3, 4, [0, 1, 4], new float[3]));
        Assert.Contains("row 2", e.Message);
    }

    [Fact]
    public void AllRowsIgnoredGivesNaNMean()
    {
        Assert.True(double.IsNaN(CrossEntropy.MeanLoss(new float[8], 2, 4, [-100, -100])));
        Assert.Equal(0, CrossEntropy.RowLosses(new float[8], 2, 4, [-100, -100], new float[2]));
    }

    [Fact]
    public void SpecialValues()
    {
        float[] logits =
        [
            0, float.NaN, 1, 2,                         // NaN anywhere: loss and gradient NaN
            0, float.PositiveInfinity, 1, 2,            // +∞ elsewhere: loss +∞, gradient NaN
            0, float.NegativeInfinity, 1, 2,            // −∞ non-target: probability 0, gradient exactly 0
            float.NegativeInfinity, 0, 1, 2,            // −∞ target: loss +∞
        ];
        int[] targets = [0, 0, 0, 0];
        var losses = new float[4];
        CrossEntropy.RowLosses(logits, 4, 4, targets, losses);
        Assert.True(float.IsNaN(losses[0]));
        Assert.Equal(float.PositiveInfinity, losses[1]);
        Assert.True(float.IsFinite(losses[2]));
        Assert.Equal(float.PositiveInfinity, losses[3]);
        var d = new float[16];
        CrossEntropy.Backward(logits, 4, 4, targets, [1f, 1f, 1f, 1f], d);
        Assert.All(d.AsSpan(0, 8).ToArray(), v => Assert.True(float.IsNaN(v)));
        Assert.Equal(0f, d[9]);
        Assert.All(d.AsSpan(8).ToArray(), v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void RowTermsInBlocksGiveTheMeanLossBitForBit()
    {
        // The training step computes row blocks on several threads and sums the terms in row order.
        const int rows = 29, vocab = 53;
        var logits = Inputs.Normal(61, rows * vocab, std: 4f);
        var targets = new int[rows];
        for (int r = 0; r < rows; r++) targets[r] = r % 7 == 3 ? CrossEntropy.DefaultIgnoreIndex : (r * 17) % vocab;
        double expected = CrossEntropy.MeanLoss(logits, rows, vocab, targets);
        var terms = new double[rows];
        int[] cuts = [0, 5, 6, 20, rows];
        for (int c = 0; c + 1 < cuts.Length; c++)
        {
            int r0 = cuts[c], n = cuts[c + 1] - r0;
            CrossEntropy.RowLossTerms(logits.AsSpan(r0 * vocab, n * vocab), n, vocab, targets.AsSpan(r0, n), terms.AsSpan(r0, n));
        }
        Assert.Equal(expected, CrossEntropy.MeanOfTerms(terms, targets));
        Assert.True(double.IsNaN(CrossEntropy.MeanOfTerms(new double[2], [CrossEntropy.DefaultIgnoreIndex, CrossEntropy.DefaultIgnoreIndex])));
    }
}
