using HeadMiner.Analysis.Attribution;
using HeadMiner.Models;
using HeadMiner.Tasks;
using HeadMiner.Tests.Models;

namespace HeadMiner.Tests.Analysis;

/// <summary>
/// Attribution patching over prompt shards (what `attrib-patch` runs locally and what a cluster runs one unit per
/// shard): a set that fits one shard gives the unsharded numbers bit for bit; any shard size estimates the same
/// quantity (each shard's gradient is its share of the whole set's mean); the merge is exact whatever order the
/// shards arrive in, and refuses a missing or repeated shard.
/// </summary>
public class AttributionShardsTests
{
    public static TheoryData<int> Configs => AnalysisModels.Indices;

    private static TokenizedPairs Pairs(ModelConfig c, int count, ulong seed)
    {
        var rng = new HeadMiner.Tensors.SeededRandom(seed);
        var clean = Enumerable.Range(0, count).Select(i => TinyModels.Tokens(c, 9, seed + (ulong)i)).ToArray();
        var corrupted = clean.Select(s => (int[])s.Clone()).ToArray();
        foreach (var s in corrupted)
        {
            s[2] = rng.NextInt(c.VocabSize);
            s[5] = rng.NextInt(c.VocabSize);
        }
        return new TokenizedPairs(clean, corrupted, [.. Enumerable.Range(0, count).Select(i => (3 * i + 1) % c.VocabSize)],
            [.. Enumerable.Range(0, count).Select(i => (5 * i + 2) % c.VocabSize)]);
    }

    [Theory]
    [MemberData(nameof(Configs))]
    public void ASetThatFitsOneShardGivesTheUnshardedNumbersBitForBit(int config)
    {
        var c = AnalysisModels.All[config];
        using var model = TinyModels.Create(c);
        var pairs = Pairs(c, 7, 31);
        var runs = AttributionRuns.Create(model, pairs, MetricKind.KlDivergence);
        var nodes = AttributionPatching.Nodes(runs, pairs);
        var edges = EdgeAttributionPatching.Run(runs);
        var (sharded, shardedEdges) = AttributionShards.RunAll(model, pairs, MetricKind.KlDivergence, edges: true, shardPairs: 7);
        Assert.Equal(nodes.CleanMetric, sharded.CleanMetric);
        Assert.Equal(nodes.CorruptedMetric, sharded.CorruptedMetric);
        Assert.Equal(nodes.Metric, sharded.Metric);
        Assert.Equal(nodes.HeadsRaw.ToArray(), sharded.HeadsRaw.ToArray());
        Assert.Equal(nodes.Heads.ToArray(), sharded.Heads.ToArray());
        Assert.Equal(nodes.MlpRaw.ToArray(), sharded.MlpRaw.ToArray());
        Assert.Equal(nodes.Mlp.ToArray(), sharded.Mlp.ToArray());
        Assert.Equal(edges.Edges, shardedEdges!.Edges);
    }

    [Theory]
    [InlineData(0, MetricKind.LogitDiff)]
    [InlineData(1, MetricKind.ProbDiff)]
    [InlineData(2, MetricKind.KlDivergence)]
    public void AnyShardSizeEstimatesTheSameQuantity(int config, MetricKind metric)
    {
        var c = AnalysisModels.All[config];
        using var model = TinyModels.Create(c);
        var pairs = Pairs(c, 13, 5);
        var (whole, wholeEdges) = AttributionShards.RunAll(model, pairs, metric, edges: true, shardPairs: 13);
        foreach (int size in new[] { 1, 4, 6 })
        {
            var (sharded, shardedEdges) = AttributionShards.RunAll(model, pairs, metric, edges: true, shardPairs: size);
            // Only the grouping of the sums differs: float rounding, not a different quantity.
            Assert.Equal(whole.CleanMetric, sharded.CleanMetric, 1e-9 * (1 + Math.Abs(whole.CleanMetric)));
            Assert.Equal(whole.CorruptedMetric, sharded.CorruptedMetric, 1e-9 * (1 + Math.Abs(whole.CorruptedMetric)));
            AssertClose(whole.HeadsRaw.ToArray(), sharded.HeadsRaw.ToArray(), (float)whole.CorruptedMetric);
            AssertClose(whole.MlpRaw.ToArray(), sharded.MlpRaw.ToArray(), (float)whole.CorruptedMetric);
            var byName = shardedEdges!.Edges.ToDictionary(e => (e.Sender, e.Receiver), e => e.Score);
            Assert.Equal(wholeEdges!.Edges.Count, byName.Count);
            double scale = wholeEdges.Edges.Max(e => Math.Abs(e.Score));
            Assert.True(scale > 1e-4, $"edge scores all but zero ({scale}): the test would check nothing");
            foreach (var e in wholeEdges.Edges) Assert.Equal(e.Score, byName[(e.Sender, e.Receiver)], 1e-5 * scale);
        }
    }

    [Fact]
    public void TheMergeIsExactInAnyOrderAndRefusesAMissingOrRepeatedShard()
    {
        var c = AnalysisModels.All[0];
        using var model = TinyModels.Create(c);
        var pairs = Pairs(c, 11, 9);
        var shards = AttributionShards.Plan(pairs.Count, 3);
        Assert.Equal(new[] { 3, 3, 3, 2 }, shards.Select(s => s.Count));
        var partials = shards.Select(s => AttributionShards.Run(model, pairs, MetricKind.LogitDiff, s, edges: true)).ToList();
        var (inOrder, inOrderEdges) = AttributionShards.RunAll(model, pairs, MetricKind.LogitDiff, edges: true, shardPairs: 3);
        var (shuffled, shuffledEdges) = AttributionShards.Merge(c, pairs.Count, pairs.Length, [partials[2], partials[0], partials[3], partials[1]]);
        Assert.Equal(inOrder.HeadsRaw.ToArray(), shuffled.HeadsRaw.ToArray());
        Assert.Equal(inOrder.Mlp.ToArray(), shuffled.Mlp.ToArray());
        Assert.Equal(inOrder.CleanMetric, shuffled.CleanMetric);
        Assert.Equal(inOrderEdges!.Edges, shuffledEdges!.Edges);

        var missing = Assert.Throws<HeadMinerException>(() => AttributionShards.Merge(c, pairs.Count, pairs.Length, [partials[0], partials[2], partials[3]]));
        Assert.Contains("shard 1 is missing", missing.Message);
        var twice = Assert.Throws<HeadMinerException>(() => AttributionShards.Merge(c, pairs.Count, pairs.Length, [partials[0], partials[1], partials[1], partials[2]]));
        Assert.Contains("shard 1 is given twice", twice.Message);
        var tooFew = Assert.Throws<HeadMinerException>(() => AttributionShards.Merge(c, pairs.Count, pairs.Length, [partials[0], partials[1], partials[2]]));
        Assert.Contains("the shards cover 9 pairs, but the set has 11", tooFew.Message);
    }

    /// <summary>Raw = corrupted metric + estimate: the tolerance scales with the estimates, not the offset.</summary>
    private static void AssertClose(float[] expected, float[] actual, float corrupted)
    {
        Assert.Equal(expected.Length, actual.Length);
        float scale = expected.Max(v => Math.Abs(v - corrupted));
        Assert.True(scale > 1e-4f, $"estimates all but zero ({scale}): the test would check nothing");
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 1e-5f * scale + 1e-6f * (1 + Math.Abs(corrupted)));
    }
}
