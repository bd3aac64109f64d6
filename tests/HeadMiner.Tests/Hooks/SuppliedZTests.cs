using HeadMiner.Models;
using HeadMiner.Tensors;
using HeadMiner.Tests.Models;

namespace HeadMiner.Tests.Hooks;

/// <summary>
/// A hook that declares it overwrites all of a layer's z (<see cref="IActivationHooks.SuppliesZ"/>) lets the forward skip
/// that layer's queries, keys, values and attention; the run must equal the one that computes them and then overwrites.
/// </summary>
public class SuppliedZTests
{
    /// <summary>Writes a fixed z (a seeded pattern, per layer) from <c>from</c> on; records what the forward offered.</summary>
    private sealed class WriteZ(int from, bool declare, ActivationSite? alsoWanted = null) : IActivationHooks
    {
        public List<(int Layer, float MaxAbsOffered)> Offered { get; } = [];

        public bool Wants(ActivationSite site, int layer) => (site == ActivationSite.Z && layer >= from) || (site == alsoWanted && layer >= from);

        public bool SuppliesZ(int layer) => declare && layer >= from;

        public void Visit(ActivationSite site, int layer, Tensor activation)
        {
            if (site != ActivationSite.Z) return;
            var z = activation.Span;
            float offered = 0;
            foreach (var v in z) offered = Math.Max(offered, Math.Abs(v));
            Offered.Add((layer, offered));
            var rng = new SeededRandom((ulong)(100 + layer));
            for (int i = 0; i < z.Length; i++) z[i] = (float)rng.NextDouble() - 0.5f;
        }
    }

    public static TheoryData<int> Architectures() => new(Enumerable.Range(0, TinyModels.All.Length));

    [Theory]
    [MemberData(nameof(Architectures))]
    public void SkippingTheAttentionOfSuppliedLayersGivesTheSameLogits(int index)
    {
        var config = TinyModels.All[index]; // two layers (some skeletons fix a window per layer)
        var model = TinyModels.Create(config, seed: 11);
        var tokens = TinyModels.Tokens(config, 2 * 7, seed: 5);
        var batch = new TokenBatch(tokens, 2, 7);
        foreach (int from in new[] { 0, 1 })
        {
            var computed = new WriteZ(from, declare: false);
            var expected = model.Run(batch, new ForwardOptions { Hooks = computed }).Logits!;
            var supplied = new WriteZ(from, declare: true);
            var actual = model.Run(batch, new ForwardOptions { Hooks = supplied }).Logits!;

            Assert.Equal(expected.Contiguous().Span.ToArray(), actual.Contiguous().Span.ToArray());
            // The skip happened: the supplying hook was offered zeros, the other one the computed z.
            Assert.All(supplied.Offered, o => Assert.Equal(0f, o.MaxAbsOffered));
            Assert.All(computed.Offered, o => Assert.True(o.MaxAbsOffered > 0));
            Assert.Equal(Enumerable.Range(from, config.Layers - from), supplied.Offered.Select(o => o.Layer));
        }
    }

    [Theory]
    [InlineData(ActivationSite.Pattern)]
    [InlineData(ActivationSite.Q)]
    [InlineData(ActivationSite.KInput)]
    public void AHookWantingTheLayersAttentionKeepsItComputed(ActivationSite wanted)
    {
        var config = TinyModels.LlamaLike();
        var model = TinyModels.Create(config, seed: 2);
        var batch = new TokenBatch(TinyModels.Tokens(config, 9, seed: 3), 1, 9);
        var hooks = new WriteZ(from: 1, declare: true, alsoWanted: wanted);
        model.Run(batch, new ForwardOptions { Hooks = hooks });
        Assert.All(hooks.Offered, o => Assert.True(o.MaxAbsOffered > 0, $"layer {o.Layer}: z was not computed although {wanted} is wanted"));
    }
}
