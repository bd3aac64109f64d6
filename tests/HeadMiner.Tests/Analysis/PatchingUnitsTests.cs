using HeadMiner.Analysis.Patching;
using HeadMiner.Models;
using HeadMiner.Tasks;

namespace HeadMiner.Tests.Analysis;

/// <summary>A sweep run layer by layer (in reverse order) and merged is the whole sweep, bit for bit.</summary>
public class PatchingUnitsTests
{
    [Theory]
    [InlineData(ActivationSite.Z, PatchGranularity.LayerHeadPosition, MetricKind.LogitDiff, PatchDirection.Denoising)]
    [InlineData(ActivationSite.ResidPre, PatchGranularity.LayerPosition, MetricKind.Loss, PatchDirection.Noising)]
    [InlineData(ActivationSite.V, PatchGranularity.LayerHead, MetricKind.KlDivergence, PatchDirection.Denoising)]
    public void SplitByLayerAndMergedTheSweepIsTheWholeSweepBitForBit(ActivationSite site, PatchGranularity granularity, MetricKind metric, PatchDirection direction)
    {
        using var loaded = ModelLoader.Load(Path.Combine(TestPaths.RepoRoot, "models", "embedded"));
        var pairs = PromptPairSet.Load(TestPaths.Fixture("embedded", "repeated-segments.json")).Tokenize(loaded.RequireTokenizer());
        var target = new PatchTarget(site, granularity);
        // Few rows per batched forward, so a layer's patches take several chunks and prefix groups.
        const int maxRows = 97;
        var whole = ActivationPatching.Sweep(loaded.Model, pairs, target, metric, direction, maxRows);
        var parts = ActivationPatching.UnitLayers(loaded.Model.Config).Reverse()
            .Select(l => ActivationPatching.SweepLayers(loaded.Model, pairs, target, metric, direction, [l], maxRows)).ToList();
        var merged = ActivationPatching.Merge(loaded.Model, pairs, target, metric, direction, parts);

        Assert.Equal(whole.Raw.Length, parts.Sum(p => p.Cells.Length));
        Assert.Equal(Bits(whole.Raw.ToArray()), Bits(merged.Raw.ToArray()));
        Assert.Equal(Bits(whole.Normalized.ToArray()), Bits(merged.Normalized.ToArray()));
        Assert.Equal(whole.CleanMetric, merged.CleanMetric);
        Assert.Equal(whole.CorruptedMetric, merged.CorruptedMetric);
        Assert.Contains(whole.Raw.ToArray(), v => v != 0);
    }

    [Fact]
    public void AMissingOrRepeatedCellIsAnError()
    {
        using var loaded = ModelLoader.Load(Path.Combine(TestPaths.RepoRoot, "models", "embedded"));
        var pairs = PromptPairSet.Load(TestPaths.Fixture("embedded", "repeated-segments.json")).Tokenize(loaded.RequireTokenizer());
        var target = new PatchTarget(ActivationSite.AttnOut, PatchGranularity.LayerPosition);
        var layer0 = ActivationPatching.SweepLayers(loaded.Model, pairs, target, MetricKind.LogitDiff, PatchDirection.Denoising, [0]);
        var e = Assert.Throws<HeadMinerException>(() => ActivationPatching.Merge(loaded.Model, pairs, target, MetricKind.LogitDiff, PatchDirection.Denoising, [layer0]));
        Assert.Contains("never arrived", e.Message);
        e = Assert.Throws<HeadMinerException>(() => ActivationPatching.Merge(loaded.Model, pairs, target, MetricKind.LogitDiff, PatchDirection.Denoising, [layer0, layer0]));
        Assert.Contains("arrived twice", e.Message);
    }

    private static int[] Bits(float[] values) => [.. values.Select(BitConverter.SingleToInt32Bits)];
}
