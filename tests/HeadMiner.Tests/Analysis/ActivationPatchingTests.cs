using HeadMiner.Analysis.Patching;
using HeadMiner.Hooks;
using HeadMiner.Models;
using HeadMiner.Tasks;
using HeadMiner.Tests.Models;

namespace HeadMiner.Tests.Analysis;

public class ActivationPatchingTests
{
    private static TokenizedPairs RandomPairs(ModelConfig c, int count, int length, ulong seed)
    {
        var rng = new HeadMiner.Tensors.SeededRandom(seed);
        var clean = new int[count][];
        var corrupted = new int[count][];
        for (int i = 0; i < count; i++)
        {
            clean[i] = TinyModels.Tokens(c, length, seed * 31 + (ulong)i);
            corrupted[i] = (int[])clean[i].Clone();
            // Corrupt two positions, as a name swap would.
            corrupted[i][1] = rng.NextInt(c.VocabSize);
            corrupted[i][length / 2] = rng.NextInt(c.VocabSize);
        }
        return new TokenizedPairs(clean, corrupted, [.. Enumerable.Range(0, count).Select(i => (i * 7 + 3) % c.VocabSize)], [.. Enumerable.Range(0, count).Select(i => (i * 11 + 5) % c.VocabSize)]);
    }

    public static TheoryData<int, string, MetricKind, PatchDirection> Cases => new()
    {
        { 0, "resid_pre", MetricKind.LogitDiff, PatchDirection.Denoising },
        { 0, "z:pos", MetricKind.LogitDiff, PatchDirection.Denoising },
        { 1, "attn_out", MetricKind.ProbDiff, PatchDirection.Noising },
        { 1, "v:pos", MetricKind.KlDivergence, PatchDirection.Denoising },
        { 2, "k:pos", MetricKind.LogitDiff, PatchDirection.Noising },
        { 2, "pattern:pos", MetricKind.LogitDiff, PatchDirection.Denoising },
        { 3, "z", MetricKind.Loss, PatchDirection.Denoising },
        { 3, "mlp_out", MetricKind.LogitDiff, PatchDirection.Denoising },
        { 2, "resid_mid", MetricKind.Loss, PatchDirection.Noising },
        { 0, "pattern", MetricKind.ProbDiff, PatchDirection.Noising },
        { 4, "k:pos", MetricKind.LogitDiff, PatchDirection.Denoising },
        { 4, "z", MetricKind.LogitDiff, PatchDirection.Noising },
        { 5, "k:pos", MetricKind.LogitDiff, PatchDirection.Denoising },
        { 5, "mlp_out", MetricKind.Loss, PatchDirection.Noising },
        { 7, "k:pos", MetricKind.LogitDiff, PatchDirection.Denoising },
        { 7, "pattern:pos", MetricKind.ProbDiff, PatchDirection.Noising },
        { 8, "z:pos", MetricKind.LogitDiff, PatchDirection.Denoising },
        { 8, "resid_pre", MetricKind.Loss, PatchDirection.Noising },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void OptimisedSweepEqualsTheNaiveLoop(int config, string target, MetricKind metric, PatchDirection direction)
    {
        var c = TinyModels.All[config];
        using var model = TinyModels.Create(c);
        var pairs = RandomPairs(c, 3, 7, 5);
        var t = PatchTarget.Parse(target);
        var fast = ActivationPatching.Sweep(model, pairs, t, metric, direction, maxRows: 40);
        var naive = ActivationPatching.SweepNaive(model, pairs, t, metric, direction);
        Assert.Equal(naive.Raw.Shape.ToArray(), fast.Raw.Shape.ToArray());
        var a = naive.Raw.ToArray();
        var b = fast.Raw.ToArray();
        for (int i = 0; i < a.Length; i++) Assert.Equal(a[i], b[i], 2e-4f * Math.Max(1f, Math.Abs(a[i])));
        Assert.True(a.Max() - a.Min() > 1e-3, "no patch changed the metric: the comparison shows nothing");
    }

    [Fact]
    public void PatchingResidPreAtAnUncorruptedPositionOfLayer0ChangesNothing()
    {
        // At layer 0, resid_pre of a position is its embedding: clean and corrupted differ only where tokens differ.
        var c = TinyModels.Gpt2Like();
        using var model = TinyModels.Create(c);
        var pairs = RandomPairs(c, 2, 6, 9);
        var result = ActivationPatching.Sweep(model, pairs, PatchTarget.Parse("resid_pre"), MetricKind.LogitDiff);
        // A patch at a position the corruption did not touch changes nothing at layer 0.
        Assert.Equal(0f, result.Normalized[0, 0], 1e-5f);
        Assert.Equal(0f, result.Normalized[0, 2], 1e-5f);
        Assert.NotEqual(0f, result.Normalized[0, 1]);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(7)]
    [InlineData(8)]
    public void APrefixRunReproducesTheFullRunsLaterPositions(int config)
    {
        var c = TinyModels.All[config];
        using var model = TinyModels.Create(c);
        var tokens = TinyModels.Tokens(c, 10, 3);
        var keySite = c.RotaryDim > 0 ? ActivationSite.RotK : ActivationSite.K;
        var (full, cache) = model.RunWithCache(TokenBatch.Single(tokens), CacheFilter.Where(h => h.Site is ActivationSite.ResidPre || h.Site == keySite || h.Site == ActivationSite.V));
        const int prefix = 4;
        int d = c.DModel, kvw = c.KvHeads * c.DHead;
        var expected = full.Logits!.ToArray().AsSpan(prefix * c.VocabSize).ToArray();
        // From layer 0 too: Gemma's first layer slides (window 3 < the 6 resumed positions) and soft-caps its scores.
        foreach (int layer in new[] { 0, 1 })
        {
            var resume = cache[ActivationSite.ResidPre, layer].ToArray().AsSpan(prefix * d).ToArray();
            var suffix = model.Run(TokenBatch.Single(tokens.AsSpan(prefix)), new ForwardOptions
            {
                StartLayer = layer,
                StartResidual = resume,
                PrefixLength = prefix,
                PrefixKeysValues = (l, _) => (cache[keySite, l].ToArray().AsMemory(0, prefix * kvw), cache[ActivationSite.V, l].ToArray().AsMemory(0, prefix * kvw)),
            }).Logits!.ToArray();
            for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], suffix[i], 1e-5f);
        }
    }
}
