using HeadMiner.Analysis.Detectors;

namespace HeadMiner.Tests.Analysis.Detectors;

/// <summary>Each detector finds the head planted for it by hand (<see cref="PlantedHeads"/>) and does not crown the heads planted for the others.</summary>
public class PlantedHeadDetectorTests
{
    private static readonly DetectorContext Context = new(PlantedHeads.Create(), null, new DetectorOptions { Prompts = 5, SegmentLength = 11, Seed = 3 });

    private static readonly Lazy<Dictionary<string, DetectorResult>> Results = new(() =>
        DetectorRegistry.All.Where(d => d.CannotRun(Context) is null).ToDictionary(d => d.Id, d => d.Run(Context)));

    public static TheoryData<string, int, int> Planted => new()
    {
        { "previous_token", PlantedHeads.Previous.Layer, PlantedHeads.Previous.Head },
        { "duplicate_token", PlantedHeads.Duplicate.Layer, PlantedHeads.Duplicate.Head },
        { "induction", PlantedHeads.Induction.Layer, PlantedHeads.Induction.Head },
        { "attention_sink", PlantedHeads.Sink.Layer, PlantedHeads.Sink.Head },
        { "positional", PlantedHeads.Positional.Layer, PlantedHeads.Positional.Head },
        { "ov_copying", PlantedHeads.Induction.Layer, PlantedHeads.Induction.Head },
        { "negative_copying", PlantedHeads.NegativeCopier.Layer, PlantedHeads.NegativeCopier.Head },
        { "k_composition", PlantedHeads.Induction.Layer, PlantedHeads.Induction.Head },
    };

    [Theory]
    [MemberData(nameof(Planted))]
    public void PlantedHeadRanksFirstAndIsLabelled(string id, int layer, int head)
    {
        var result = Results.Value[id];
        var top = result.Ranked()[0];
        Assert.Equal((layer, head), (top.Layer, top.Head));
        Assert.True(top.Score > result.Threshold, $"{id}: planted head scores {top.Score} ≤ threshold {result.Threshold}");
        // A clear winner: the runner-up is well behind.
        Assert.True(result.Ranked()[1].Score < top.Score - 0.2f, $"{id}: runner-up {result.Ranked()[1]} too close to {top}");
    }

    private static readonly string[] PatternIds = ["previous_token", "duplicate_token", "induction", "attention_sink", "positional"];

    public static TheoryData<string> PatternTypes => new(PatternIds);

    /// <summary>The head planted for one pattern type is not the top head of any other pattern detector.</summary>
    [Theory]
    [MemberData(nameof(PatternTypes))]
    public void PlantedHeadIsNotTopForOtherPatternDetectors(string planted)
    {
        var head = planted switch
        {
            "previous_token" => PlantedHeads.Previous,
            "duplicate_token" => PlantedHeads.Duplicate,
            "induction" => PlantedHeads.Induction,
            "attention_sink" => PlantedHeads.Sink,
            _ => PlantedHeads.Positional,
        };
        foreach (var other in PatternIds.Where(id => id != planted))
        {
            var top = Results.Value[other].Ranked()[0];
            Assert.NotEqual(head, (top.Layer, top.Head));
        }
    }

    [Fact]
    public void ScoresOfHardPlantedPatternsAreNearOne()
    {
        // The planted patterns put all non-BOS attention on the target (softmax gaps ≥ 20): the scores must say so.
        Assert.InRange(Results.Value["previous_token"].Score(0, 1), 0.99f, 1f);
        Assert.InRange(Results.Value["duplicate_token"].Score(0, 0), 0.99f, 1f);
        Assert.InRange(Results.Value["induction"].Score(1, 1), 0.99f, 1f);
        Assert.InRange(Results.Value["attention_sink"].Score(0, 2), 0.99f, 1f);
        Assert.InRange(Results.Value["positional"].Score(1, 0), 0.99f, 1f);
        // The i → i−T+1 definition agrees for the induction head, i → i−T for the duplicate head.
        Assert.InRange(Results.Value["induction"].Matrices["offset"][1, 1], 0.99f, 1f);
        Assert.InRange(Results.Value["duplicate_token"].Matrices["offset"][0, 0], 0.99f, 1f);
        // Pure copier and pure suppressor: every eigenvalue of the OV circuit is +1 / −1.
        Assert.InRange(Results.Value["ov_copying"].Score(1, 1), 0.999f, 1f);
        Assert.InRange(Results.Value["ov_copying"].Score(1, 2), -1f, -0.999f);
        Assert.Equal(1f, Results.Value["negative_copying"].Score(1, 2));
    }

    [Fact]
    public void EvidenceShowsThePlantedAttention()
    {
        // The induction head's strongest example on prompt 0 goes from a second-copy token to the one after its first occurrence.
        int T = Context.Options.SegmentLength;
        var example = Results.Value["induction"].EvidenceFor(1, 1).Examples[0];
        Assert.Equal(example.Query - T + 1, example.Key);
        var previous = Results.Value["previous_token"].EvidenceFor(0, 1).Examples[0];
        Assert.Equal(previous.Query - 1, previous.Key);
        Assert.Contains("L0H1", Results.Value["k_composition"].EvidenceFor(1, 1).Summary);
    }

    [Fact]
    public void CompositionFindsThePreviousTokenToInductionPath()
    {
        var result = Results.Value["k_composition"];
        var k = result.Matrices["k_composition"];
        // Layer-0 heads have nothing earlier to compose with.
        Assert.True(float.IsNaN(result.Score(0, 0)));
        Assert.True(float.IsNaN(k[1, 1, 0, 1]));
        // The induction head's keys read exactly the subspace L0H1 writes; the junk writers are invisible to them.
        // L0H1's W_OV sends token t to previous-token dim t (×c) and L1H1's W_QK pairs that dim with token t: the product
        // is c times a rank-19 identity, so K = c√19 / (c√19 · √19) = 1/√19, the most two rank-19 maps can reach.
        Assert.Equal(1 / MathF.Sqrt(PlantedHeads.Vocab), k[0, 1, 1, 1], 1e-5f);
        Assert.Equal(0f, k[0, 0, 1, 1]);
        Assert.Equal(0f, k[0, 2, 1, 1]);
        // Nothing reads the previous-token subspace through queries or values.
        Assert.Equal(0f, result.Matrices["q_composition"][0, 1, 1, 1]);
        Assert.Equal(0f, result.Matrices["v_composition"][0, 1, 1, 2]);
    }

    [Fact]
    public void TextDetectorsSayTheyNeedATokenizer()
    {
        foreach (var id in new[] { "rare_words", "subword_merge" })
        {
            var detector = DetectorRegistry.Get(id);
            Assert.Contains("tokenizer", detector.CannotRun(Context));
            var error = Assert.Throws<HeadMinerException>(() => detector.Run(Context));
            Assert.Contains(id, error.Message);
        }
    }
}
