using HeadMiner.Hooks;
using HeadMiner.Models;
using HeadMiner.Tests.Models;

namespace HeadMiner.Tests.Hooks;

public class FiniteForwardTests
{
    private static Transformer Poisoned(ModelConfig config, Action<TransformerWeights> poison)
    {
        var weights = RandomWeights.Create(config, 7, 0.3f, perturbNorms: true);
        poison(weights);
        return new Transformer(config, weights, "poisoned");
    }

    [Fact]
    public void ANaNWeightIsReportedAtTheFirstHookPointItReachesWithTheWeightNamed()
    {
        var config = TinyModels.LlamaLike(layers: 3);
        using var model = Poisoned(config, w => w.Blocks[1].W_Q.Span[0] = float.NaN);
        var tokens = TinyModels.Tokens(config, 6, seed: 3);
        var logits = model.Forward(TokenBatch.Single(tokens));
        var error = Assert.Throws<NonFiniteForwardException>(() => FiniteForward.Check(model, TokenBatch.Single(tokens), logits, "test run"));
        Assert.Equal(HookName.Of(ActivationSite.Q, 1), error.Site);
        Assert.StartsWith("test run: the model's forward pass gives non-finite values", error.Message);
        Assert.Contains("first at blocks.1.attn.hook_q (layer 1, position 0 of 6: NaN)", error.Message);
        Assert.Contains("blocks.1.attn.W_Q (1 of", error.Message);
        Assert.Throws<NonFiniteForwardException>(() => FiniteForward.CheckProbe(model, "probe"));
    }

    [Fact]
    public void AnInfiniteUnembeddingIsReportedAsTheUnembedding()
    {
        var config = TinyModels.LlamaLike();
        using var model = Poisoned(config, w => w.W_U.Span[5] = float.PositiveInfinity);
        var error = Assert.Throws<NonFiniteForwardException>(() => FiniteForward.CheckProbe(model, "probe"));
        Assert.Null(error.Site);
        Assert.Contains("only in the unembedding", error.Message);
        Assert.Contains("unembed.W_U (1 of", error.Message);
    }

    [Fact]
    public void AFiniteModelPassesAndItsMaskedScoresAreNotMistakenForFaults()
    {
        foreach (var config in TinyModels.All)
        {
            using var model = TinyModels.Create(config);
            FiniteForward.CheckProbe(model, "probe");
            // Watching every hook point sees the causal mask's −∞ attention scores; they are not a fault.
            Assert.Null(FiniteForward.Locate(model, TinyModels.Tokens(config, 8, seed: 5), "x").Site);
        }
    }

    [Fact]
    public void ABatchIsLocatedInTheFirstSequenceWhoseLogitsAreNotFinite()
    {
        // Untied, so that token 9's NaN embedding row affects only a sequence that contains token 9.
        var config = TinyModels.Gpt2Like() with { TiedEmbeddings = false };
        using var model = Poisoned(config, w => w.W_E.Span[9 * config.DModel] = float.NaN);
        var batch = TokenBatch.LeftPadded([[1, 2, 3], [4, 9]]);
        var logits = model.Forward(batch);
        var error = Assert.Throws<NonFiniteForwardException>(() => FiniteForward.Check(model, batch, logits, "batch"));
        Assert.Equal(HookName.Of(ActivationSite.Embed), error.Site);
        Assert.Contains("position 1 of 2", error.Message);
        Assert.Contains("embed.W_E (1 of", error.Message);
    }
}
