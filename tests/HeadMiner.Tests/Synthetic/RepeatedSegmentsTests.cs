using HeadMiner.Tasks.Synthetic;

namespace HeadMiner.Tests.Synthetic;

public class RepeatedSegmentsTests
{
    [Fact]
    public void SameSeedSameSequencesOtherSeedOthers()
    {
        var task = new RepeatedSegments(segmentLength: 10, firstTokenId: 100, tokenCount: 500, bosId: 0);
        var a = task.Generate(8, 31, seed: 7);
        var b = task.Generate(8, 31, seed: 7);
        var c = task.Generate(8, 31, seed: 8);
        Assert.Equal(a.Tokens, b.Tokens);
        Assert.Equal(a.Labels, b.Labels);
        Assert.NotEqual(a.Tokens, c.Tokens);
        // Sequence i depends on (seed, i) only, not on how many were asked for.
        Assert.Equal(a.Tokens[..3], task.Generate(3, 31, seed: 7).Tokens);
    }

    [Fact]
    public void SegmentsRepeatExactlyAndLabelsMarkTheInductionPositions()
    {
        const int L = 6;
        var task = new RepeatedSegments(L, firstTokenId: 10, tokenCount: 20, bosId: 1);
        // 1 + 6 + 6 + 6 + 3: three full copies and a cut fourth.
        var data = task.Generate(50, 1 + 3 * L + 3, seed: 3);
        foreach (var (tokens, labels) in data.Tokens.Zip(data.Labels))
        {
            Assert.Equal(1, tokens[0]);
            Assert.Equal(PredictionKind.Special, labels[0]);
            var segment = tokens[1..(1 + L)];
            Assert.All(segment, t => Assert.InRange(t, 10, 29));
            Assert.Equal(L, segment.Distinct().Count());
            for (int i = 1 + L; i < tokens.Length; i++) Assert.Equal(tokens[i - L], tokens[i]);
            for (int i = 1; i < tokens.Length; i++)
            {
                // First copy and the first token of the second copy cannot be predicted from context; every later one can.
                var expected = i <= 1 + L ? PredictionKind.Random : PredictionKind.Induction;
                Assert.Equal(expected, labels[i]);
                // The induction property itself: the previous token was seen earlier and followed by this token.
                bool inducible = false;
                for (int j = 0; j < i - 1; j++) inducible |= tokens[j] == tokens[i - 1] && tokens[j + 1] == tokens[i];
                Assert.Equal(labels[i] == PredictionKind.Induction, inducible);
            }
        }
        Assert.Equal(new ComponentSpan(SyntheticComponent.RepeatedSegments, 1, 3 * L + 3), data.Spans[0].Single());
    }

    [Fact]
    public void LossesAreGroupedByTheLabelOfTheTargetToken()
    {
        // BOS + 3 + 3: targets 1..6 are Random ×4 (first copy and the first repeat), Induction ×2.
        var data = new RepeatedSegments(3, firstTokenId: 10, tokenCount: 20, bosId: 0).Generate(2, 7, seed: 1);
        float[] losses = [1, 2, 3, 4, 0.5f, 0.25f, /* second sequence */ 5, 6, 7, 8, 1.5f, 1.25f];
        var byKind = data.MeanLossByKind(losses);
        Assert.Equal((1 + 2 + 3 + 4 + 5 + 6 + 7 + 8) / 8.0, byKind[PredictionKind.Random], 6);
        Assert.Equal((0.5 + 0.25 + 1.5 + 1.25) / 4, byKind[PredictionKind.Induction], 6);
        Assert.False(byKind.ContainsKey(PredictionKind.Special)); // BOS is never a target
        Assert.Throws<ArgumentException>(() => data.MeanLossByKind(losses.AsSpan(1)));
    }

    [Fact]
    public void DenseDistinctSegmentsAndRepeatsWithoutBos()
    {
        var dense = new RepeatedSegments(segmentLength: 9, firstTokenId: 0, tokenCount: 10);
        var data = dense.Generate(20, 18, seed: 11);
        foreach (var tokens in data.Tokens)
        {
            Assert.Equal(9, tokens[..9].Distinct().Count());
            Assert.Equal(tokens[..9], tokens[9..]);
        }
        var withDuplicates = new RepeatedSegments(segmentLength: 40, firstTokenId: 5, tokenCount: 4, distinctTokens: false);
        var noisy = withDuplicates.Generate(5, 80, seed: 1);
        Assert.All(noisy.Tokens, t => Assert.All(t, id => Assert.InRange(id, 5, 8)));
        Assert.Throws<ArgumentOutOfRangeException>(() => dense.Generate(1, 17, seed: 1));
        Assert.Throws<ArgumentException>(() => new RepeatedSegments(segmentLength: 11, firstTokenId: 0, tokenCount: 10));
    }
}
