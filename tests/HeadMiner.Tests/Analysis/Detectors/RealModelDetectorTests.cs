using HeadMiner.Analysis.Detectors;
using HeadMiner.Models;

namespace HeadMiner.Tests.Analysis.Detectors;

/// <summary>Detectors on the shared real models: GPT-2 small's attention weights (weights-only) and stories260K with its tokenizer.</summary>
public class RealModelDetectorTests
{
    /// <summary>
    /// GPT-2 small's composition from its attention weights alone. Checked against facts that do not come from this
    /// code: the scores are ratios bounded by ‖AB‖ ≤ ‖A‖‖B‖, so they lie in [0, 1]; and the published analyses of
    /// GPT-2 small (Olsson et al. 2022; the TransformerLens demos) name 4.11 a previous-token head and 5.1, 6.9
    /// induction heads, which read the previous-token head's output through their keys: among all earlier heads,
    /// 4.11 must be their strongest K-composition partner.
    /// </summary>
    [Fact]
    public void Gpt2SmallCompositionFromAttentionWeightsOnly()
    {
        using var loaded = ModelLoader.Load(TestPaths.SharedModel("gpt2-small-attention-only"), new LoadOptions { WeightsOnly = true });
        var context = new DetectorContext(loaded.Model, loaded.Tokenizer);
        foreach (var detector in DetectorRegistry.All.Where(d => d.Id != "k_composition"))
        {
            var reason = detector.CannotRun(context);
            Assert.NotNull(reason);
            Assert.Contains(detector.Kind == DetectorKind.Weights ? "W_E" : "forward pass", reason);
        }
        var result = DetectorRegistry.Get("k_composition").Run(context);
        Assert.Equal([12, 12], result.Scores.Shape.ToArray());
        foreach (var name in new[] { "q_composition", "k_composition", "v_composition" })
        {
            var m = result.Matrices[name];
            Assert.Equal([12, 12, 12, 12], m.Shape.ToArray());
            for (int l1 = 0; l1 < 12; l1++)
                for (int h1 = 0; h1 < 12; h1++)
                    for (int l2 = 0; l2 < 12; l2++)
                        for (int h2 = 0; h2 < 12; h2++)
                        {
                            float v = m[l1, h1, l2, h2];
                            if (l1 >= l2) Assert.True(float.IsNaN(v), $"{name}[{l1},{h1},{l2},{h2}] = {v}, expected NaN");
                            else Assert.InRange(v, 0f, 1f);
                        }
        }
        Assert.Equal(1 / Math.Sqrt(768), result.Baseline!.Value, 12);
        var k = result.Matrices["k_composition"];
        foreach (var (layer, head) in new[] { (5, 1), (6, 9) })
        {
            var partner = Enumerable.Range(0, layer).SelectMany(l => Enumerable.Range(0, 12).Select(h => (l, h))).MaxBy(x => k[x.l, x.h, layer, head]);
            Assert.Equal((4, 11), partner);
            Assert.True(k[4, 11, layer, head] > 2 * result.Baseline.Value);
        }
        Assert.True(result.Scores.ToArray().Take(12).All(float.IsNaN));
    }

    [Fact]
    public void TextDetectorsOnStories260K()
    {
        using var loaded = ModelLoader.Load(TestPaths.SharedModel("stories260K"));
        var tokenizer = loaded.RequireTokenizer();
        var context = new DetectorContext(loaded.Model, tokenizer, new DetectorOptions { Examples = 4 });
        var bos = tokenizer.BosId!.Value;
        foreach (var id in new[] { "rare_words", "subword_merge" })
        {
            var detector = DetectorRegistry.Get(id);
            Assert.Null(detector.CannotRun(context));
            var result = detector.Run(context);
            Assert.Equal([5, 8], result.Scores.Shape.ToArray());
            // subword_merge subtracts its control share (attention on i−1 across word boundaries), so it can go negative.
            Assert.All(result.Scores.ToArray(), v => Assert.InRange(v, id == "subword_merge" ? -1f : 0f, 1f));
            Assert.InRange(result.Baseline!.Value, 0.01, 0.5);
            if (id == "subword_merge")
            {
                // The model's strongest previous-token head attends to i−1 inside and across words alike: not a merger.
                var previous = new PreviousTokenDetector().Run(context).Ranked()[0];
                Assert.True(result.Score(previous.Layer, previous.Head) < result.Threshold,
                    $"previous-token head L{previous.Layer}H{previous.Head} scores {result.Score(previous.Layer, previous.Head)} as a subword merger");
            }
            // Evidence pairs come from the first passage and point backwards at a target of the definition.
            var ids = tokenizer.Encode(SampleText.Passages[0], false).Prepend(bos).ToArray();
            var top = result.Ranked()[0];
            var examples = result.EvidenceFor(top.Layer, top.Head).Examples;
            Assert.NotEmpty(examples);
            foreach (var e in examples)
            {
                Assert.InRange(e.Key, 1, e.Query - 1);
                Assert.Equal(tokenizer.TokenToString(ids[e.Key]), e.KeyToken);
                if (id == "subword_merge")
                    for (int j = e.Key + 1; j <= e.Query; j++) Assert.Matches(@"^\p{L}", tokenizer.TokenToString(ids[j]));
                else
                {
                    int rareCount = (int)Math.Ceiling(RareWordsDetector.RareShare * (ids.Length - 1));
                    int rank = ids.Skip(1).Count(x => x > ids[e.Key]);
                    Assert.True(rank < rareCount, $"key {e.KeyToken} (id {ids[e.Key]}) is not among the {rareCount} highest ids");
                }
            }
        }
    }

    [Fact]
    public void SameSeedSameScoresOtherSeedOtherPrompts()
    {
        using var loaded = ModelLoader.Load(TestPaths.SharedModel("stories260K"));
        var detector = DetectorRegistry.Get("induction");
        DetectorResult Run(ulong seed) => detector.Run(new DetectorContext(loaded.Model, loaded.Tokenizer, new DetectorOptions { Prompts = 3, SegmentLength = 9, Seed = seed }));
        var a = Run(5);
        Assert.Equal(a.Scores.ToArray(), Run(5).Scores.ToArray());
        Assert.NotEqual(a.Scores.ToArray(), Run(6).Scores.ToArray());
    }
}
