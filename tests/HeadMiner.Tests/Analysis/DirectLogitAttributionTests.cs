using HeadMiner.Analysis.Attribution;
using HeadMiner.Models;
using HeadMiner.Tests.Models;

namespace HeadMiner.Tests.Analysis;

public class DirectLogitAttributionTests
{
    public static TheoryData<int> Configs => AnalysisModels.Indices;

    private static TokenBatch Batch(ModelConfig c, ulong seed) => new(TinyModels.Tokens(c, 3 * 7, seed), 3, 7);

    [Theory]
    [MemberData(nameof(Configs))]
    public void LayerComponentsPlusBiasTermsSumToTheLogitDifferenceAndHeadsSumToAttnOut(int index)
    {
        var c = AnalysisModels.All[index];
        using var model = TinyModels.Create(c);
        WeightProcessor.Apply(model, WeightProcessing.TransformerLensDefault);
        var result = DirectLogitAttribution.Compute(model, Batch(c, 11), [3, 5, 9], [8, 13, 2]);
        // RMSNorm models skip centring (TransformerLens does too); the label is whatever the model actually got.
        Assert.Equal(model.Processing, result.Processing);
        Assert.True(result.Processing.FoldLayerNorm);
        foreach (var p in result.Prompts)
        {
            Assert.True(Math.Abs(p.LogitDiff) > 1e-3, "a zero logit difference would make the sum check vacuous");
            Assert.Equal(p.LogitDiff, p.ComponentSum, 1e-4);
            for (int l = 0; l < c.Layers; l++)
            {
                int attn = Array.IndexOf(result.ComponentLabels, $"{l}_attn_out");
                Assert.Equal(p.Components[attn], p.Heads[l].Sum() + p.AttentionBiases[l], 1e-4);
            }
        }
    }

    [Theory]
    [MemberData(nameof(Configs))]
    public void NeuronAttributionsOfALayerSumToItsMlpOutMinusBOut(int index)
    {
        var c = AnalysisModels.All[index];
        using var model = TinyModels.Create(c);
        WeightProcessor.Apply(model, WeightProcessing.TransformerLensDefault);
        var result = DirectLogitAttribution.Compute(model, Batch(c, 12), [1, 4, 6], null, neurons: true);
        foreach (var p in result.Prompts)
        {
            Assert.Null(p.Wrong);
            Assert.Equal(p.LogitDiff, p.ComponentSum, 1e-4);
            for (int l = 0; l < c.Layers; l++)
            {
                int mlp = Array.IndexOf(result.ComponentLabels, $"{l}_mlp_out");
                Assert.Equal(c.DMlp, p.Neurons![l].Length);
                Assert.Equal(p.Components[mlp] - p.MlpBiases![l], p.Neurons[l].Sum(), 1e-4);
                var top = p.TopNeurons(l, 5);
                Assert.Equal(5, top.Length);
                Assert.Equal(p.Neurons[l].Max(Math.Abs), Math.Abs(top[0].Attribution));
            }
        }
        Assert.Equal(c.Layers, result.TopNeuronsByMean(3).Length);
    }

    [Theory]
    [MemberData(nameof(Configs))]
    public void LogitDiffIsBeforeTheFinalSoftCapAndCappedLogitDiffIsTheModelsOutput(int index)
    {
        var c = AnalysisModels.All[index];
        using var model = TinyModels.Create(c);
        var batch = Batch(c, 17);
        int[] answers = [2, 7, 11], wrongs = [9, 4, 1];
        var result = DirectLogitAttribution.Compute(model, batch, answers, wrongs);
        var capped = model.Forward(batch);
        var uncapped = model.Run(batch, new ForwardOptions { UncappedLogits = true }).Logits!;
        int last = batch.Length - 1;
        double largestCapEffect = 0;
        foreach (var p in result.Prompts)
        {
            int b = p.Index;
            double output = capped[b, last, answers[b]] - capped[b, last, wrongs[b]];
            Assert.Equal(uncapped[b, last, answers[b]] - uncapped[b, last, wrongs[b]], p.LogitDiff, 1e-4);
            if (c.FinalLogitSoftCap is null)
            {
                Assert.Null(p.CappedLogitDiff);
                Assert.Equal(output, p.LogitDiff, 1e-4);
            }
            else
            {
                Assert.Equal(output, p.CappedLogitDiff!.Value, 1e-4);
                largestCapEffect = Math.Max(largestCapEffect, Math.Abs(p.LogitDiff - output));
            }
        }
        // The Gemma 2-shaped model's cap (3) must actually change the difference, or the test shows nothing.
        if (c.FinalLogitSoftCap is not null) Assert.True(largestCapEffect > 1e-2, $"the final cap changed no logit difference ({largestCapEffect})");
    }

    [Fact]
    public void UnprocessedWeightsAreLabelledAndStillDecomposeThroughTheCachedScale()
    {
        // The cached scale makes the final norm linear, so even raw weights decompose; the label says which were used.
        var c = TinyModels.Gpt2Like();
        using var model = TinyModels.Create(c);
        var result = DirectLogitAttribution.Compute(model, Batch(c, 13), [3, 5, 9], [8, 13, 2]);
        Assert.Equal("none", result.Processing.ToString());
        foreach (var p in result.Prompts) Assert.Equal(p.LogitDiff, p.ComponentSum, 1e-4);
    }

    [Fact]
    public void OutOfVocabularyAnswerIsAClearError()
    {
        var c = TinyModels.Gpt2Like();
        using var model = TinyModels.Create(c);
        var e = Assert.Throws<HeadMinerException>(() => DirectLogitAttribution.Compute(model, Batch(c, 1), [3, 500, 9]));
        Assert.Contains("outside the vocabulary", e.Message);
    }
}
