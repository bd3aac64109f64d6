using HeadMiner.Analysis.Atlas;
using HeadMiner.Analysis.Detectors;
using HeadMiner.Analysis.Truth;
using HeadMiner.Tensors;
using HeadMiner.Tensors.Kernels;

namespace HeadMiner.Tests.Analysis.Truth;

/// <summary>
/// Planted models (known head roles among random distractors) on both skeletons: the atlas labels exactly the planted
/// heads with exactly their types, the models are deterministic per seed, and the rotary kernel the Llama skeleton's
/// positional heads use is what the real rotary kernel computes.
/// </summary>
public class PlantedModelTests
{
    // Odd sizes: GPT-2 seed 1 is 3 layers × 5 heads, d_model 74, vocab 16; Llama seed 3 is 2 layers × 9 heads over
    // 3 kv heads, d_model 73, d_head 68. Between them every planted type occurs.
    public static TheoryData<PlantedSkeleton, ulong> Models => new()
    {
        { PlantedSkeleton.Gpt2, 1 },
        { PlantedSkeleton.Gpt2, 3 },
        { PlantedSkeleton.Llama, 1 },
        { PlantedSkeleton.Llama, 3 },
    };

    private static readonly string Detectors = "previous_token,duplicate_token,induction,positional,attention_sink,ov_copying,negative_copying";

    private static AtlasReport Atlas(PlantedModel planted)
    {
        var options = new AtlasOptions { Detectors = Detectors, Detector = new DetectorOptions { Seed = 5, Prompts = 6 } }
            .ForContext(planted.Config.ContextLength, "planted");
        return AtlasRunner.Run(planted.Model, null, planted.AtlasInfo(), options);
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void AtlasLabelsExactlyThePlantedHeads(PlantedSkeleton skeleton, ulong seed)
    {
        var planted = PlantedModels.Create(skeleton, seed);
        var report = Atlas(planted);
        Assert.All(report.Detectors, d => Assert.Equal("ran", d.Status));
        Assert.NotEmpty(planted.Truth);
        foreach (var head in report.Heads)
        {
            var labels = head.Labels.Select(l => l.Type).Order(StringComparer.Ordinal).ToArray();
            var truth = planted.Truth.Where(t => t.Layer == head.Layer && t.Head == head.Head).Select(t => t.Type).Order(StringComparer.Ordinal).ToArray();
            Assert.True(truth.SequenceEqual(labels), $"{planted.Describe()}\nL{head.Layer}H{head.Head}: planted [{string.Join(", ", truth)}], labelled [{string.Join(", ", labels)}]");
        }
        var counts = TruthScoring.Score(planted, report);
        Assert.Equal(planted.Types.Count, counts.Count);
        Assert.All(counts, c => Assert.Equal((1.0, 1.0), (c.Count.Precision, c.Count.Recall)));
    }

    [Fact]
    public void EveryTypeIsPlantedOnTheTestModels()
    {
        var types = Models.Select(r => PlantedModels.Create((PlantedSkeleton)r[0], (ulong)r[1])).SelectMany(m => m.Types).ToHashSet();
        Assert.Equal(PlantedTypes.All.Order(), types.Order());
    }

    [Theory]
    [InlineData(PlantedSkeleton.Gpt2)]
    [InlineData(PlantedSkeleton.Llama)]
    public void SameSeedSameModelOtherSeedOtherModel(PlantedSkeleton skeleton)
    {
        var a = PlantedModels.Create(skeleton, 7);
        var b = PlantedModels.Create(skeleton, 7);
        var c = PlantedModels.Create(skeleton, 8);
        Assert.Equal(a.Truth, b.Truth);
        Assert.Equal(a.Config.DModel, b.Config.DModel);
        for (int l = 0; l < a.Config.Layers; l++)
        {
            var (wa, wb) = (a.Model.Weights.Blocks[l], b.Model.Weights.Blocks[l]);
            foreach (var (x, y) in new[] { (wa.W_Q, wb.W_Q), (wa.W_K, wb.W_K), (wa.W_V, wb.W_V), (wa.W_O, wb.W_O), (wa.W_out, wb.W_out) })
                Assert.True(x.Span.SequenceEqual(y.Span));
        }
        Assert.False(a.Describe() == c.Describe(), "seeds 7 and 8 drew the same model");
    }

    [Theory]
    [InlineData(PlantedSkeleton.Gpt2)]
    [InlineData(PlantedSkeleton.Llama)]
    public void TruthIsConsistentWithTheSkeleton(PlantedSkeleton skeleton)
    {
        for (ulong seed = 1; seed <= 12; seed++)
        {
            var m = PlantedModels.Create(skeleton, seed);
            var c = m.Config;
            Assert.Equal(skeleton == PlantedSkeleton.Llama ? "llama" : "gpt2", c.Architecture);
            if (skeleton == PlantedSkeleton.Llama)
            {
                Assert.True(c.KvHeads < c.Heads && c.RotaryDim == c.DHead && !c.LearnedPositions, m.Describe());
                Assert.DoesNotContain(PlantedTypes.Positional, m.Types);
            }
            else Assert.True(c.KvHeads == c.Heads && c.LearnedPositions && c.RotaryDim == 0, m.Describe());
            // One planted role per kv group (an induction head is also a copier: two truth entries, one head).
            var heads = m.Truth.Select(t => (t.Layer, t.Head)).Distinct().ToList();
            Assert.Equal(heads.Count, heads.Select(h => (h.Layer, c.KvHeadOf(h.Head))).Distinct().Count());
            foreach (var induction in m.Truth.Where(t => t.Type == PlantedTypes.Induction))
            {
                Assert.Contains(m.Truth, t => t.Type == PlantedTypes.PreviousToken && t.Layer < induction.Layer);
                Assert.True(m.IsPlanted(induction.Layer, induction.Head, PlantedTypes.Copy));
            }
            Assert.True(m.Model.Weights.IsRunnable);
        }
    }

    [Fact]
    public void RotaryKernelIsWhatTheRotaryKernelComputes()
    {
        const int dHead = 56, context = 23;
        var theta = Rotary.DefaultInverseFrequencies(dHead, PlantedModels.RopeTheta);
        var used = theta.Take(PlantedModels.RotaryPairs).ToArray();
        var cos = new float[context * dHead / 2];
        var sin = new float[context * dHead / 2];
        Rotary.BuildTables(context, theta, cos, sin);
        foreach (int shift in new[] { 0, 1 })
        {
            var kernel = new RotaryKernel(used, shift, context);
            Assert.True(kernel.Gap > 0.5, $"shift {shift}: gap {kernel.Gap}");
            for (int i = 0; i < context; i++)
            {
                for (int j = 0; j <= i; j++)
                {
                    var q = new float[dHead];
                    var k = new float[dHead];
                    for (int f = 0; f < used.Length; f++)
                    {
                        q[f] = 1f;
                        (k[f], k[f + dHead / 2]) = kernel.Key(f);
                    }
                    Rotary.Apply(q, 1, dHead, 1, dHead, dHead, cos, sin, [i], RotaryStyle.RotateHalf);
                    Rotary.Apply(k, 1, dHead, 1, dHead, dHead, cos, sin, [j], RotaryStyle.RotateHalf);
                    float dot = 0;
                    for (int x = 0; x < dHead; x++) dot += q[x] * k[x];
                    Assert.Equal(kernel.Score(i - j), dot, 1e-4); // float rotation vs the double formula
                }
            }
        }
    }

    [Fact]
    public void CountsPoolAndGiveRatios()
    {
        var a = new TruthCount("induction", "induction", 1, 2, 0, 1);
        var b = new TruthCount("induction", "induction", 1, 1, 1, 0);
        var sum = a + b;
        Assert.Equal(new TruthCount("induction", "induction", 2, 3, 1, 1), sum);
        Assert.Equal(0.75, sum.Precision);
        Assert.Equal(0.75, sum.Recall);
        Assert.True(double.IsNaN(new TruthCount("x", "x", 1, 0, 0, 0).Precision));
        Assert.Throws<ArgumentException>(() => a + new TruthCount("positional", "positional", 1, 0, 0, 0));
    }
}
