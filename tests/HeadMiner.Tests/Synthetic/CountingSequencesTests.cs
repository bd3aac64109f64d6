using HeadMiner.Tasks.Synthetic;

namespace HeadMiner.Tests.Synthetic;

public class CountingSequencesTests
{
    private static readonly OrderedList Numbers = new("numbers", 10, 100, Cyclic: false);
    private static readonly OrderedList Days = new("days", 110, 7, Cyclic: true);
    private static readonly OrderedList Letters = new("letters", 117, 26, Cyclic: false);

    [Fact]
    public void EveryStepIsTheSuccessorAndOnlyRestartsAreRandom()
    {
        var task = new CountingSequences([Numbers, Days, Letters], bosId: 0);
        var data = task.Generate(200, 41, seed: 2);
        var used = new HashSet<string>();
        foreach (var (tokens, labels) in data.Tokens.Zip(data.Labels))
        {
            Assert.Equal(0, tokens[0]);
            var list = new[] { Numbers, Days, Letters }.Single(l => l.Contains(tokens[1]));
            used.Add(list.Name);
            Assert.Equal(PredictionKind.Random, labels[1]);
            for (int i = 2; i < tokens.Length; i++)
            {
                Assert.True(list.Contains(tokens[i]));
                int? successor = list.Successor(tokens[i - 1]);
                if (labels[i] == PredictionKind.Successor) Assert.Equal(successor, tokens[i]);
                else Assert.Null(successor); // a restart happens only at the end of a non-cyclic list
            }
            int restarts = labels.Count(l => l == PredictionKind.Random) - 1;
            // 40 items fit in the numbers (never restart); 40 letters need one or two restarts; days wrap instead.
            if (list == Letters) Assert.InRange(restarts, 1, 2);
            else Assert.Equal(0, restarts);
            if (list == Days) Assert.Contains(tokens.Skip(1).Zip(tokens.Skip(2)), pair => pair.First == Days.FirstId + 6 && pair.Second == Days.FirstId);
        }
        Assert.Equal(3, used.Count);
    }

    [Fact]
    public void InterleavedRunsPutOneFillerAfterEachItem()
    {
        var task = new CountingSequences([Numbers, Days], bosId: null, fillerFirstId: 500, fillerCount: 50, interleavedProbability: 1);
        var data = task.Generate(100, 15, seed: 4);
        foreach (var (tokens, labels) in data.Tokens.Zip(data.Labels))
        {
            var list = new[] { Numbers, Days }.Single(l => l.Contains(tokens[0]));
            for (int i = 1; i < tokens.Length; i++)
            {
                if (i % 2 == 1)
                {
                    Assert.InRange(tokens[i], 500, 549);
                    Assert.Equal(PredictionKind.Random, labels[i]);
                }
                else
                {
                    // The item to continue is two positions back: the successor must be read from there.
                    Assert.Equal(list.Successor(tokens[i - 2]), tokens[i]);
                    Assert.Equal(PredictionKind.Successor, labels[i]);
                }
            }
        }
        var mixed = new CountingSequences([Numbers], bosId: null, fillerFirstId: 500, fillerCount: 50, interleavedProbability: 0.5).Generate(400, 6, seed: 4);
        Assert.InRange(mixed.Tokens.Count(t => t[1] >= 500), 160, 240);
    }

    [Fact]
    public void SameSeedSameRunsOtherSeedOthers()
    {
        var task = new CountingSequences([Numbers, Days]);
        Assert.Equal(task.Generate(20, 12, 1).Tokens, task.Generate(20, 12, 1).Tokens);
        Assert.NotEqual(task.Generate(20, 12, 1).Tokens, task.Generate(20, 12, 2).Tokens);
        Assert.Null(Numbers.Successor(109));
        Assert.Equal(110, Days.Successor(116));
    }
}
