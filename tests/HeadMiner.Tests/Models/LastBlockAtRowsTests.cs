using HeadMiner.Models;
using HeadMiner.Tensors;

namespace HeadMiner.Tests.Models;

/// <summary>
/// A run that unembeds only some rows (LastOnly, LogitPositions) with no hook on the last block runs that block at
/// those rows alone; its logits must equal the full run's at those rows bit for bit (patching and ablation effects
/// compare such runs with hooked ones that run the whole block, and an intervention that changes nothing must give 0).
/// </summary>
public class LastBlockAtRowsTests
{
    /// <summary>Wants resid_post of the last block and leaves it alone: forces the whole last block.</summary>
    private sealed class WatchLastBlock(int layers) : IActivationHooks
    {
        public int Visits { get; private set; }

        public bool Wants(ActivationSite site, int layer) => site == ActivationSite.ResidPost && layer == layers - 1;

        public void Visit(ActivationSite site, int layer, Tensor activation) => Visits++;
    }

    public static TheoryData<int> Architectures() => new(Enumerable.Range(0, TinyModels.All.Length));

    private static float[] Values(Tensor t) => t.Contiguous().Span.ToArray();

    private static void Close(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(expected[i] == actual[i], $"{what}[{i}]: {actual[i]} vs {expected[i]}");
    }

    [Theory]
    [MemberData(nameof(Architectures))]
    public void LastOnlyAndLogitPositionsEqualTheFullRun(int index)
    {
        var config = TinyModels.All[index];
        var model = TinyModels.Create(config, seed: 13);
        const int B = 3, T = 11;
        var batch = new TokenBatch(TinyModels.Tokens(config, B * T, seed: 17), B, T);
        var watch = new WatchLastBlock(config.Layers);

        var fullLast = model.Run(batch, new ForwardOptions { LastOnly = true, Hooks = watch });
        var fastLast = model.Run(batch, new ForwardOptions { LastOnly = true });
        Assert.Equal(1, watch.Visits);
        Close(Values(fullLast.Logits!), Values(fastLast.Logits!), $"{config.Architecture} last");
        Assert.Equal(fullLast.Residual.Length, B * T * config.DModel);
        // The block ran at the last rows alone, so there is no whole residual; LongRoPE (Phi-3) keeps the full block,
        // its rotary factors depending on the pass's length.
        if (config.LongRope is null) Assert.Throws<InvalidOperationException>(() => fastLast.Residual);
        else Assert.Equal(B * T * config.DModel, fastLast.Residual.Length);

        // Several positions per sequence: not in order with position 0 (no keys before it); a span in the middle (a
        // prefix of 4, then 3 queries); two apart after a prefix of 5; the last one twice.
        foreach (int[] positions in new[] { new[] { 7, 0, 3, 10 }, [4, 5, 6], [9, 5], [10, 10] })
        {
            var full = model.Run(batch, new ForwardOptions { LogitPositions = positions, Hooks = watch });
            var fast = model.Run(batch, new ForwardOptions { LogitPositions = positions });
            Close(Values(full.Logits!), Values(fast.Logits!), $"{config.Architecture} positions {string.Join(",", positions)}");
        }

        // Resuming at the last layer from the stored residual gives the same logits too.
        var resumeAt = model.Run(batch, new ForwardOptions { EndLayer = config.Layers - 1 }).Residual;
        var resumed = model.Run(batch, new ForwardOptions { LastOnly = true, StartLayer = config.Layers - 1, StartResidual = resumeAt });
        Close(Values(fullLast.Logits!), Values(resumed.Logits!), $"{config.Architecture} resumed");
    }

    [Fact]
    public void APaddedBatchAFullRunAndPositionsSpanningTheSequenceKeepTheWholeResidual()
    {
        var config = TinyModels.LlamaLike();
        var model = TinyModels.Create(config, seed: 3);
        var ids = TinyModels.Tokens(config, 2 * 6, seed: 4);
        var padded = new TokenBatch(ids, 2, 6, [true, true, true, true, true, true, true, true, true, true, false, false]);
        Assert.Equal(2 * 6 * config.DModel, model.Run(padded, new ForwardOptions { LastOnly = true }).Residual.Length);
        Assert.Equal(2 * 6 * config.DModel, model.Run(new TokenBatch(ids, 2, 6), new ForwardOptions()).Residual.Length);
        // Positions 0 and 5 span the whole sequence: nothing to save, the block runs whole.
        Assert.Equal(2 * 6 * config.DModel, model.Run(new TokenBatch(ids, 2, 6), new ForwardOptions { LogitPositions = [0, 5] }).Residual.Length);
    }
}
