using HeadMiner.Analysis.Atlas;
using HeadMiner.Analysis.Detectors;
using HeadMiner.Analysis.Truth;
using HeadMiner.Tasks.Sets;

namespace HeadMiner.Tests.Analysis.Truth;

/// <summary>The planted successor head (both skeletons): the successor set builds and the atlas labels exactly the planted heads.</summary>
public class PlantedSuccessorTests
{
    [Theory]
    [InlineData(PlantedSkeleton.Gpt2, 1UL)]  // 2 layers × 4 heads, d_model 323
    [InlineData(PlantedSkeleton.Llama, 2UL)] // 3 layers × 8 heads over 4 kv heads, d_model 297
    public void AtlasLabelsExactlyThePlantedHeads(PlantedSkeleton skeleton, ulong seed)
    {
        var planted = PlantedSuccessor.Create(skeleton, seed);
        Assert.True(new SuccessorSet().CanBuild(planted.Tokenizer!, planted.Config.ContextLength).Ok);
        var options = new AtlasOptions
        {
            Detectors = "previous_token,duplicate_token,induction,attention_sink,ov_copying,negative_copying,successor",
            Detector = new DetectorOptions { Seed = 4, Prompts = 6 },
        }.ForContext(planted.Config.ContextLength, "planted successor");
        var report = AtlasRunner.Run(planted.Model, planted.Tokenizer, planted.AtlasInfo(), options);
        Assert.All(report.Detectors, d => Assert.Equal("ran", d.Status));
        foreach (var head in report.Heads)
        {
            var labels = head.Labels.Select(l => l.Type).Order(StringComparer.Ordinal).ToArray();
            var truth = planted.Truth.Where(t => t.Layer == head.Layer && t.Head == head.Head).Select(t => t.Type).Order(StringComparer.Ordinal).ToArray();
            Assert.True(truth.SequenceEqual(labels), $"{planted.Describe()}\nL{head.Layer}H{head.Head}: planted [{string.Join(", ", truth)}], labelled [{string.Join(", ", labels)}]");
        }
        Assert.Contains(planted.Truth, t => t.Type == "successor");
        // The planted head is a pure successor map: every step's successor wins, so the score is exactly 1.
        var successor = planted.Truth.Single(t => t.Type == "successor");
        Assert.Equal(1.0, report.Detectors.Single(d => d.Id == "successor").Scores![successor.Layer][successor.Head]);
    }
}
