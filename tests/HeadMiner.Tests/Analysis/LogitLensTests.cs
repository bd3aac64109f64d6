using HeadMiner.Analysis;
using HeadMiner.Models;
using HeadMiner.Tensors.Kernels;
using HeadMiner.Tests.Models;

namespace HeadMiner.Tests.Analysis;

public class LogitLensTests
{
    public static TheoryData<int> Configs => new() { 0, 1, 2, 3, 4, 5, 6, 7, 8 };

    [Theory]
    [MemberData(nameof(Configs))]
    public void TheLastLayerOfTheRecomputedLensIsTheModelsRealPrediction(int index)
    {
        var c = TinyModels.All[index];
        using var model = TinyModels.Create(c);
        var tokens = TinyModels.Tokens(c, 9, 21);
        var logits = model.Forward(tokens);
        var last = logits.Select(0, 8).ToArray();
        var probs = (float[])last.Clone();
        Softmax.Rows(probs, 1, c.VocabSize);
        var expected = Enumerable.Range(0, c.VocabSize).OrderByDescending(i => last[i]).ThenBy(i => i).Take(5).ToArray();
        int target = expected[2];

        var lens = LogitLens.Run(model, tokens, top: 5, target: target);
        Assert.Equal(LensNorm.Recomputed, lens.Norm);
        Assert.Equal(c.Layers + 1, lens.Layers.Count);
        var final = lens.Layers[^1];
        Assert.Equal("final resid_post", final.Label);
        Assert.Equal(expected, final.Top.Select(t => t.Id));
        for (int r = 0; r < 5; r++)
        {
            Assert.Equal(last[expected[r]], final.Top[r].Logit, 1e-4f);
            Assert.Equal(probs[expected[r]], final.Top[r].Prob, 1e-5f);
        }
        Assert.Equal(3, final.TargetRank);
        Assert.Equal(probs[target], final.TargetProb!.Value, 1e-5f);
        // Earlier layers are different read-outs (the lens shows something), and each row is a distribution.
        Assert.NotEqual(final.Top.Select(t => t.Logit), lens.Layers[0].Top.Select(t => t.Logit));
        Assert.All(lens.Layers, l => Assert.True(l.Top.Sum(t => t.Prob) <= 1.0001f));
    }

    [Theory]
    [MemberData(nameof(Configs))]
    public void TheCachedScaleLensAlsoEndsAtTheRealLogits(int index)
    {
        // On the final residual the cached scale is the real scale, so both norm modes agree there (and only there).
        var c = TinyModels.All[index];
        using var model = TinyModels.Create(c);
        var tokens = TinyModels.Tokens(c, 6, 22);
        var recomputed = LogitLens.Run(model, tokens, top: 4);
        var cached = LogitLens.Run(model, tokens, top: 4, norm: LensNorm.CachedScale);
        Assert.Equal(recomputed.Layers[^1].Top.Select(t => t.Id), cached.Layers[^1].Top.Select(t => t.Id));
        for (int r = 0; r < 4; r++) Assert.Equal(recomputed.Layers[^1].Top[r].Prob, cached.Layers[^1].Top[r].Prob, 1e-5f);
        Assert.NotEqual(recomputed.Layers[0].Top[0].Logit, cached.Layers[0].Top[0].Logit);
    }
}
