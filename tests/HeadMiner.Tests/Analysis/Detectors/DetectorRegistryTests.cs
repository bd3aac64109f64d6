using HeadMiner.Analysis.Detectors;
using HeadMiner.Tests.Models;

namespace HeadMiner.Tests.Analysis.Detectors;

public class DetectorRegistryTests
{
    [Fact]
    public void RegistryHoldsThePatternWeightAndTaskDetectorsOnce()
    {
        string[] expected = ["previous_token", "duplicate_token", "induction", "positional", "attention_sink", "rare_words", "subword_merge", "ov_copying", "negative_copying", "k_composition", .. TaskDetectorTests.TaskIds];
        Assert.Equal(expected, DetectorRegistry.Ids.ToArray());
        Assert.Equal(21, expected.Distinct().Count());
        Assert.All(DetectorRegistry.All, d => Assert.False(string.IsNullOrWhiteSpace(d.Description)));
        Assert.Equal(["induction", "k_composition"], DetectorRegistry.Parse("k_composition, induction").Select(d => d.Id));
        Assert.Equal(21, DetectorRegistry.Parse("all").Count);
        var error = Assert.Throws<HeadMinerException>(() => DetectorRegistry.Parse("induction,inductoin"));
        Assert.Contains("\"inductoin\"", error.Message);
        Assert.Contains("previous_token", error.Message);
    }

    /// <summary>On a grouped-query model every pattern and weight score is per query head and finite (odd sizes).</summary>
    [Fact]
    public void GroupedQueryModelGetsOneScorePerQueryHead()
    {
        var config = TinyModels.LlamaLike(layers: 3) with { BosTokenId = 1, ContextLength = 41 };
        var context = new DetectorContext(TinyModels.Create(config, seed: 9), null, new DetectorOptions { Prompts = 3, SegmentLength = 7, ProbeTokens = 13 });
        foreach (var detector in DetectorRegistry.All.Where(d => d.CannotRun(context) is null))
        {
            var result = detector.Run(context);
            Assert.Equal([3, 4], result.Scores.Shape.ToArray());
            Assert.Equal(12, result.Evidence.Count);
            for (int l = detector.Id == "k_composition" ? 1 : 0; l < 3; l++)
                for (int h = 0; h < 4; h++) Assert.True(float.IsFinite(result.Score(l, h)), $"{detector.Id} L{l}H{h} = {result.Score(l, h)}");
        }
    }

    [Fact]
    public void PromptsStartWithBosAndAvoidSpecialTokens()
    {
        var config = TinyModels.Gpt2Like() with { BosTokenId = 66, EosTokenId = 65 };
        var context = new DetectorContext(TinyModels.Create(config), null, new DetectorOptions());
        var prompts = DetectorPrompts.Repeated(context, 4, 11, 2);
        Assert.All(prompts, p =>
        {
            Assert.Equal(23, p.Length);
            Assert.Equal(66, p[0]);
            Assert.Equal(p.Skip(1).Take(11), p.Skip(12));
            Assert.Equal(11, p.Skip(1).Take(11).Distinct().Count());
            Assert.DoesNotContain(65, p);
            Assert.DoesNotContain(66, p.Skip(1));
        });
        var none = new DetectorContext(TinyModels.Create(config), null, new DetectorOptions { PrependBos = false });
        Assert.All(DetectorPrompts.Repeated(none, 2, 5, 2), p => Assert.Equal(10, p.Length));
        var error = Assert.Throws<HeadMinerException>(() => DetectorPrompts.Bos(new DetectorContext(TinyModels.Create(TinyModels.Gpt2Like()), null, new DetectorOptions { PrependBos = true })));
        Assert.Contains("BOS", error.Message);
    }
}
