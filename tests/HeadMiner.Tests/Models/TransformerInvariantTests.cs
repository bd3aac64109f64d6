using HeadMiner.Models;
using HeadMiner.Tensors.Kernels;

namespace HeadMiner.Tests.Models;

/// <summary>Properties every architecture path of the shared forward must have, whatever its weights.</summary>
public class TransformerInvariantTests
{
    public static TheoryData<int> ConfigIndices => new() { 0, 1, 2, 3, 4, 5, 6, 7, 8 };

    private static float[] LogProbs(float[] logits, int rows, int vocab)
    {
        var copy = (float[])logits.Clone();
        Softmax.LogRows(copy, rows, vocab);
        return copy;
    }

    [Theory]
    [MemberData(nameof(ConfigIndices))]
    public void LeftPaddedBatchMatchesEachSequenceAlone(int index)
    {
        var config = TinyModels.All[index];
        using var model = TinyModels.Create(config);
        var a = TinyModels.Tokens(config, 11, 1);
        var b = TinyModels.Tokens(config, 7, 2);
        var batched = model.Forward(TokenBatch.LeftPadded([a, b]));
        var aloneA = model.Forward(a).ToArray();
        var aloneB = model.Forward(b).ToArray();
        int v = config.VocabSize;
        var rows = batched.ToArray();
        for (int t = 0; t < 11; t++)
            for (int j = 0; j < v; j++)
                Assert.Equal(aloneA[t * v + j], rows[t * v + j], 1e-4f);
        for (int t = 0; t < 7; t++)
            for (int j = 0; j < v; j++)
                Assert.Equal(aloneB[t * v + j], rows[(11 + 4 + t) * v + j], 1e-4f);
    }

    [Theory]
    [MemberData(nameof(ConfigIndices))]
    public void IncrementalDecodingWithKvCacheMatchesFullForward(int index)
    {
        var config = TinyModels.All[index];
        using var model = TinyModels.Create(config);
        var tokens = TinyModels.Tokens(config, 13, 3);
        var full = model.Forward(tokens).ToArray();
        var cache = new KvCache(config, 20);
        int v = config.VocabSize;
        // A prompt of 5 in one step, then one token at a time.
        var first = model.ForwardIncremental(tokens.AsSpan(0, 5), cache, lastOnly: false).ToArray();
        for (int j = 0; j < 5 * v; j++) Assert.Equal(full[j], first[j], 1e-4f);
        for (int t = 5; t < tokens.Length; t++)
        {
            var step = model.ForwardIncremental(tokens.AsSpan(t, 1), cache).ToArray();
            for (int j = 0; j < v; j++) Assert.Equal(full[t * v + j], step[j], 1e-4f);
        }
        Assert.Equal(13, cache.Length);
    }

    [Theory]
    [MemberData(nameof(ConfigIndices))]
    public void WeightProcessingChangesNoLogProb(int index)
    {
        var config = TinyModels.All[index];
        using var raw = TinyModels.Create(config);
        using var processed = TinyModels.Create(config);
        WeightProcessor.Apply(processed, WeightProcessing.TransformerLensDefault);
        var tokens = TinyModels.Tokens(config, 12, 4);
        var expected = LogProbs(raw.Forward(tokens).ToArray(), 12, config.VocabSize);
        var actual = LogProbs(processed.Forward(tokens).ToArray(), 12, config.VocabSize);
        float spread = expected.Max() - expected.Min();
        Assert.True(spread > 1f, $"log-probs spread only {spread}: the test model is too flat to show anything");
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 1e-4f);
        Assert.True(processed.Processing.FoldLayerNorm);
        Assert.Equal(config.Norm == NormKind.LayerNorm, processed.Processing.CenterWritingWeights);
        Assert.Null(processed.Weights.Blocks[0].Ln1Weight);
    }

    [Fact]
    public void ProcessingRealChangesWeights()
    {
        // Guards the test above: processing must not be a no-op on these models.
        var config = TinyModels.Gpt2Like();
        using var raw = TinyModels.Create(config);
        using var processed = TinyModels.Create(config);
        WeightProcessor.Apply(processed, WeightProcessing.TransformerLensDefault);
        Assert.NotEqual(raw.Weights.Blocks[0].W_Q[0, 0, 0], processed.Weights.Blocks[0].W_Q[0, 0, 0]);
        Assert.Equal("fold_ln+center_writing_weights+center_unembed+fold_value_biases", processed.Processing.ToString());
    }

    [Fact]
    public void PromptLongerThanContextIsAClearError()
    {
        var config = TinyModels.Gpt2Like();
        using var model = TinyModels.Create(config);
        var e = Assert.Throws<HeadMinerException>(() => model.Forward(new int[config.ContextLength + 1]));
        Assert.Contains("at most 32", e.Message);
    }

    [Fact]
    public void SlidingWindowLimitsWhatALateTokenSees()
    {
        // With window 3 on every layer, logits at position 10 cannot depend on token 0.
        var config = TinyModels.LlamaLike() with { AttentionWindow = [3, 3] };
        using var model = TinyModels.Create(config);
        var tokens = TinyModels.Tokens(config, 11, 5);
        var changed = (int[])tokens.Clone();
        changed[0] = (changed[0] + 1) % config.VocabSize;
        var a = model.Forward(tokens).ToArray();
        var b = model.Forward(changed).ToArray();
        int v = config.VocabSize;
        for (int j = 0; j < v; j++) Assert.Equal(a[10 * v + j], b[10 * v + j]);
        Assert.NotEqual(a[1 * v], b[1 * v]); // but position 1 does see it
    }
}
