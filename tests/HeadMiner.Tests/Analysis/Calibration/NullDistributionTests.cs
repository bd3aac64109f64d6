using HeadMiner.Analysis.Atlas;
using HeadMiner.Analysis.Calibration;
using HeadMiner.Analysis.Detectors;
using HeadMiner.Models;
using HeadMiner.Models.Tokenizers;
using HeadMiner.Tests.Tokenizers;

namespace HeadMiner.Tests.Analysis.Calibration;

/// <summary>The null-distribution table (FPR math, the embedded resource) and the calibrated thresholds' promise: untrained models get no labels.</summary>
public class NullDistributionTests
{
    private static NullDistribution Table(params double[] scores) =>
        new([new NullDistribution.Entry("x", scores, 1, "raw score", [0.5])], ["test"], [], "2026-01-01T00:00:00Z");

    [Fact]
    public void FalsePositiveRateCountsNullHeadsAtOrAboveTheScoreWithPlusOne()
    {
        var t = Table(0.1, 0.2, 0.2, 0.3, double.NaN, 0.9);
        Assert.Equal(5, t.Count("x"));
        Assert.Equal((1.0 + 5) / 6, t.FalsePositiveRate("x", 0.0)!.Value, 12);
        Assert.Equal((1.0 + 4) / 6, t.FalsePositiveRate("x", 0.2)!.Value, 12);
        Assert.Equal((1.0 + 2) / 6, t.FalsePositiveRate("x", 0.25)!.Value, 12);
        Assert.Equal((1.0 + 1) / 6, t.FalsePositiveRate("x", 0.9)!.Value, 12);
        Assert.Equal(1.0 / 6, t.FalsePositiveRate("x", 0.95)!.Value, 12);
        Assert.Null(t.FalsePositiveRate("unknown", 0.5));
        Assert.Equal(0, t.Count("unknown"));
        Assert.Null(t.ScoreAtRate("unknown", 0.5));
        Assert.Contains("no null data", t.Describe("unknown"));
    }

    [Fact]
    public void FalsePositiveRateIsMonotoneAndScoreAtRateIsTheLeastThresholdMeetingTheRate()
    {
        var rng = new HeadMiner.Tensors.SeededRandom(5);
        var scores = Enumerable.Range(0, 1999).Select(_ => rng.NextNormal()).ToArray();
        var t = Table(scores);
        double previous = 1;
        for (double s = -4; s <= 4; s += 0.01)
        {
            double fpr = t.FalsePositiveRate("x", s)!.Value;
            Assert.True(fpr <= previous);
            previous = fpr;
        }
        foreach (var rate in new[] { 0.001, 0.0025, 0.01, 0.1, 0.5 })
        {
            double threshold = t.ScoreAtRate("x", rate)!.Value;
            var sorted = t.Find("x")!.Scores;
            // Labelling heads scoring above the threshold keeps the measured rate: (1 + #null > t) / (1 + n) ≤ rate…
            int above = sorted.Count(v => v > threshold);
            Assert.True((1.0 + above) / (1 + sorted.Length) <= rate + 1e-12, $"rate {rate}");
            // …and it is the least such null score: one step lower, a further null head would count.
            Assert.True((1.0 + above + 1) / (1 + sorted.Length) > rate, $"rate {rate}");
        }
        // 0.001 with n = 1999 allows one null head above; below 1/(1+n) no threshold can be certified.
        Assert.Equal(t.Find("x")!.Scores[^2], t.ScoreAtRate("x", 0.001));
        Assert.Null(t.ScoreAtRate("x", 0.0004));
    }

    [Fact]
    public void ScoresAreStoredSortedAndRoundedUpAndSurviveJson()
    {
        var t = Table(0.12341, 0.5, -0.00004, 0.1);
        Assert.Equal([0.0, 0.1, 0.1235, 0.5], t.Find("x")!.Scores);
        var back = NullDistribution.Parse(t.ToJson());
        Assert.Equal(t.Find("x")!.Scores, back.Find("x")!.Scores);
        Assert.Equal(t.FalsePositiveRate("x", 0.11), back.FalsePositiveRate("x", 0.11));
        Assert.Throws<HeadMinerException>(() => NullDistribution.Parse("{\"schema\": \"other\"}"));
    }

    [Fact]
    public void TheEmbeddedTableHasDataForEveryRegisteredDetector()
    {
        var table = NullDistribution.Default;
        Assert.Contains(table.Models, m => m.Kind == "untrained" && m.Architecture == "gpt2");
        Assert.Contains(table.Models, m => m.Kind == "untrained" && m.Architecture == "gpt_neox");
        Assert.Contains(table.Models, m => m.Kind == "untrained" && m.Architecture == "llama" && m.KvHeads < m.Heads);
        Assert.Contains(table.Models, m => m.Kind == "shuffled");
        // Every registered detector runs on a runnable untrained model with the GPT-2 tokenizer, so every one has a null.
        foreach (var id in DetectorRegistry.Ids)
        {
            Assert.True(table.Count(id) >= 300, $"{id}: {table.Count(id)} null heads");
            Assert.NotNull(table.FalsePositiveRate(id, 0));
            Assert.StartsWith(id, table.Describe(id));
        }
    }

    private static readonly Lazy<ITokenizer> Gpt2 = new(() => TokenizerLoader.Load(TokenizerTestFiles.Gpt2Directory));

    /// <summary>Seeds the calibration did not use (it uses 1–3).</summary>
    public static TheoryData<string, ulong, float> Untrained => new()
    {
        { "gpt2", 101, 0.1f },
        { "gpt2", 102, 0.02f },
        { "gpt_neox", 101, 0.1f },
        { "gpt_neox", 102, 0.05f },
        { "llama", 101, 0.1f },
        { "llama", 102, 0.05f },
    };

    [Theory]
    [MemberData(nameof(Untrained))]
    public void UntrainedModelsGetNoLabels(string family, ulong seed, float std)
    {
        var nullModel = NullModels.Untrained(family, (2, 4, 2, 64), new NullTokenizer("gpt2", Gpt2.Value), std, seed);
        var (context, _) = nullModel.Build(new DetectorOptions());
        var c = context.Config;
        var info = AtlasModel.InMemory(context.Model, nullModel.Name);
        var atlas = AtlasRunner.Run(context.Model, context.Tokenizer, info, new AtlasOptions { Detector = context.Options, RandomDraws = 1 });
        // The task detectors (GPT-2 tokenizer) and the pattern and weight detectors all ran…
        Assert.Equal(DetectorRegistry.All.Count, atlas.Detectors.Count(d => d.Status == "ran"));
        // …and no head of a model with no trained function is labelled.
        var labels = atlas.Heads.SelectMany(h => h.Labels.Select(l => $"L{h.Layer}H{h.Head} {l.Type} {l.Score}")).ToList();
        Assert.True(labels.Count == 0, string.Join("; ", labels));
        // Every threshold holds the measured null: labelling score > threshold has a measured false-positive rate ≤ α per
        // head (or, with fewer than 1/α null heads, no null head above it). k_composition labels nothing and its
        // threshold scales with d_model (docs/DETECTORS.md, "Calibration").
        var table = NullDistribution.Default;
        foreach (var d in atlas.Detectors.Where(d => d.Id != "k_composition"))
        {
            var scores = table.Find(d.Id)!.Scores;
            int above = scores.Count(s => s > d.Threshold!.Value);
            Assert.True((1.0 + above) / (1.0 + scores.Length) <= Math.Max(NullDistribution.Alpha, 1.0 / (1 + scores.Length)) + 1e-12,
                $"{d.Id}: {above}/{scores.Length} null heads above {d.Threshold}");
        }
    }
}
