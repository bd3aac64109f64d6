using HeadMiner.Analysis.Atlas;
using HeadMiner.Analysis.Detectors;
using HeadMiner.Analysis.Truth;
using HeadMiner.Tasks.Sets;

namespace HeadMiner.Tests.Analysis.Truth;

/// <summary>The planted IOI circuit: its vocabulary builds the ioi set, and the atlas labels exactly the planted heads.</summary>
public class PlantedIoiTests
{
    [Fact]
    public void VocabularyBuildsTheIoiSetAndNotTheOthers()
    {
        var vocabulary = PlantedVocabulary.Ioi;
        Assert.True(new IoiSet().CanBuild(vocabulary.Tokenizer, 64).Ok);
        Assert.False(new McqaSet().CanBuild(vocabulary.Tokenizer, 64).Ok);
        // The answers are the names: ≥ 5 of them (the set needs five per pair), each one word.
        Assert.InRange(vocabulary.Answers.Count, 5, vocabulary.Size - 1);
        Assert.All(vocabulary.Answers, id => Assert.Single(vocabulary.Tokenizer.Encode(" " + vocabulary.Tokenizer.TokenToString(id), false)));
        Assert.DoesNotContain(0, vocabulary.Answers);
    }

    [Fact]
    public void AtlasLabelsExactlyThePlantedCircuit()
    {
        // Seed 3: 3 layers × 6 heads, S-inhibition in layer 1, movers in layer 2.
        var planted = PlantedIoi.Create(3);
        var options = new AtlasOptions
        {
            Detectors = "duplicate_token,attention_sink,ov_copying,negative_copying,name_mover,negative_name_mover,s_inhibition",
            Detector = new DetectorOptions { Seed = 2, Prompts = 8 },
        }.ForContext(planted.Config.ContextLength, "planted ioi");
        var report = AtlasRunner.Run(planted.Model, planted.Tokenizer, planted.AtlasInfo(), options);
        Assert.All(report.Detectors, d => Assert.Equal("ran", d.Status));
        foreach (var head in report.Heads)
        {
            var labels = head.Labels.Select(l => l.Type).Order(StringComparer.Ordinal).ToArray();
            var truth = planted.Truth.Where(t => t.Layer == head.Layer && t.Head == head.Head).Select(t => t.Type).Order(StringComparer.Ordinal).ToArray();
            Assert.True(truth.SequenceEqual(labels), $"{planted.Describe()}\nL{head.Layer}H{head.Head}: planted [{string.Join(", ", truth)}], labelled [{string.Join(", ", labels)}]");
        }
        Assert.Equal(3, planted.Truth.Count(t => t.Type == PlantedTypes.NameMover));
        Assert.Equal(PlantedTypes.Ioi.Order(), planted.Types.Order());
        // The circuit works: the name movers' causal check (ablating them) lowers the IO − S logit difference.
        var causal = report.Detectors.Single(d => d.Id == "name_mover").Causal;
        Assert.NotNull(causal);
        Assert.True(causal.TopEffect > 1, $"ablating the name movers moved the logit difference by only {causal.TopEffect}");
    }

    [Fact]
    public void SameSeedSameCircuit()
    {
        var a = PlantedIoi.Create(5);
        var b = PlantedIoi.Create(5);
        Assert.Equal(a.Truth, b.Truth);
        for (int l = 0; l < a.Config.Layers; l++)
            Assert.True(a.Model.Weights.Blocks[l].W_Q.Span.SequenceEqual(b.Model.Weights.Blocks[l].W_Q.Span));
        Assert.NotEqual(a.Describe(), PlantedIoi.Create(6).Describe());
    }
}
