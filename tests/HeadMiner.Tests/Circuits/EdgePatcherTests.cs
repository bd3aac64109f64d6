using HeadMiner.Analysis.Circuits;
using HeadMiner.Models;
using HeadMiner.Tasks;
using HeadMiner.Tests.Models;

namespace HeadMiner.Tests.Circuits;

/// <summary>
/// Edge patching equals the naive full rerun (<see cref="NaiveEdgePatching"/>) for every single edge of 2-layer
/// models (sequential and parallel blocks, grouped-query attention, per-head QK-norm, sliding windows and soft caps,
/// partial rotary) and for random sets of edges, both ways a patcher runs: recomputing only what a set changes (the
/// default: <see cref="PatchedForward"/>) and whole layers through the model's forward, batched
/// (<see cref="EdgePatcher.WholeLayers"/>); patching no edge is the clean run and patching every edge the corrupted one.
/// </summary>
public class EdgePatcherTests
{
    public static TheoryData<int> Configs => [0, 1, 2];

    /// <summary>Every config, each both ways (<c>wholeLayers</c>).</summary>
    public static TheoryData<int, bool> ConfigsBothWays
    {
        get
        {
            var data = new TheoryData<int, bool>();
            for (int i = 0; i < 7; i++)
            {
                data.Add(i, false);
                data.Add(i, true);
            }
            return data;
        }
    }

    internal static ModelConfig Config(int index) => index switch
    {
        0 => TinyModels.Gpt2Like(),
        1 => TinyModels.NeoXLike(),
        2 => TinyModels.LlamaLike(),
        3 => TinyModels.Qwen3Like(),
        4 => TinyModels.LlamaLike() with { RotaryStyle = HeadMiner.Tensors.Kernels.RotaryStyle.Interleaved, AttentionWindow = [0, 3] },
        // Gemma 2's attention and logit soft caps, GeGLU and sliding first layer, without the post-norms the graph refuses.
        5 => TinyModels.Gemma2Like() with { PostNorm = false },
        _ => TinyModels.Phi3Like(),
    };

    private static EdgePatcher Patcher(Transformer model, TokenizedPairs pairs, MetricKind kind, bool wholeLayers, CircuitGraph? graph = null)
    {
        var probe = EdgePatcher.Create(model, pairs, kind, graph);
        var patcher = new EdgePatcher(model, probe.Metric, probe.Graph) { WholeLayers = wholeLayers };
        Assert.Equal(!wholeLayers, patcher.RecomputesOnlyChanges);
        return patcher;
    }

    internal static TokenizedPairs Pairs(ModelConfig c, ulong seed, int length = 7)
    {
        var rng = new HeadMiner.Tensors.SeededRandom(seed);
        int[][] clean = [TinyModels.Tokens(c, length, seed), TinyModels.Tokens(c, length, seed + 1), TinyModels.Tokens(c, length, seed + 2)];
        var corrupted = clean.Select(s => (int[])s.Clone()).ToArray();
        foreach (var s in corrupted)
        {
            s[1] = rng.NextInt(c.VocabSize);
            s[length - 3] = rng.NextInt(c.VocabSize);
        }
        return new TokenizedPairs(clean, corrupted, [3, 8, 12], [4, 9, 13]);
    }

    private static double Tolerance(double value) => 2e-4 + 1e-4 * Math.Abs(value);

    [Theory]
    [MemberData(nameof(ConfigsBothWays))]
    public void EverySingleEdgeEqualsTheNaiveRerun(int config, bool wholeLayers)
    {
        var c = Config(config);
        using var model = TinyModels.Create(c, seed: 11);
        var patcher = Patcher(model, Pairs(c, 5), MetricKind.LogitDiff, wholeLayers);
        var graph = patcher.Graph;
        var sets = Enumerable.Range(0, graph.EdgeCount).Select(e => Only(graph, e)).ToList();
        var fast = patcher.Evaluate(sets);
        int moved = 0;
        for (int e = 0; e < graph.EdgeCount; e++)
        {
            double naive = NaiveEdgePatching.Metric(model, patcher.Metric, [graph.EdgeName(e)]);
            Assert.True(Math.Abs(naive - fast[e]) <= Tolerance(naive), $"{graph.EdgeName(e)}: fast {fast[e]}, naive {naive}");
            if (Math.Abs(naive - patcher.CleanMetric) > 1e-3) moved++;
        }
        // The comparison means something only if edges change the metric.
        Assert.True(moved > graph.EdgeCount / 4, $"only {moved} of {graph.EdgeCount} edges change the metric");
        // Whole layers run as batched copies: fewer forwards than sets; the other way runs one (partial) forward per set.
        if (wholeLayers) Assert.True(patcher.Forwards < graph.EdgeCount);
        else Assert.Equal(graph.EdgeCount, patcher.Forwards);
    }

    [Theory]
    [MemberData(nameof(ConfigsBothWays))]
    public void RandomEdgeSetsEqualTheNaiveRerun(int config, bool wholeLayers)
    {
        var c = Config(config);
        using var model = TinyModels.Create(c, seed: 13);
        var patcher = Patcher(model, Pairs(c, 9), MetricKind.KlDivergence, wholeLayers);
        var graph = patcher.Graph;
        var rng = new HeadMiner.Tensors.SeededRandom(3);
        var sets = Enumerable.Range(0, 9).Select(i => Enumerable.Range(0, graph.EdgeCount).Select(_ => rng.NextDouble() < 0.1 + 0.1 * i).ToArray()).ToList();
        var fast = patcher.Evaluate(sets);
        for (int i = 0; i < sets.Count; i++)
        {
            var names = Enumerable.Range(0, graph.EdgeCount).Where(e => sets[i][e]).Select(graph.EdgeName);
            double naive = NaiveEdgePatching.Metric(model, patcher.Metric, names);
            Assert.True(Math.Abs(naive - fast[i]) <= Tolerance(naive), $"set {i}: fast {fast[i]}, naive {naive}");
        }
    }

    /// <summary>
    /// Prompts that differ only late: runs skip the shared prefix (its keys and values from the clean run) and still
    /// equal the naive full rerun for every single edge and for random sets; the plain loop skips nothing.
    /// </summary>
    [Theory]
    [MemberData(nameof(ConfigsBothWays))]
    public void RunsThatSkipTheSharedPrefixEqualTheNaiveRerun(int config, bool wholeLayers)
    {
        var c = Config(config);
        using var model = TinyModels.Create(c, seed: 23);
        const int length = 9;
        var rng = new HeadMiner.Tensors.SeededRandom(29);
        int[][] clean = [TinyModels.Tokens(c, length, 31), TinyModels.Tokens(c, length, 32), TinyModels.Tokens(c, length, 33)];
        var corrupted = clean.Select(t => (int[])t.Clone()).ToArray();
        corrupted[0][6] = (clean[0][6] + 1 + rng.NextInt(c.VocabSize - 1)) % c.VocabSize;
        corrupted[1][7] = (clean[1][7] + 1 + rng.NextInt(c.VocabSize - 1)) % c.VocabSize;
        corrupted[2][6] = (clean[2][6] + 1 + rng.NextInt(c.VocabSize - 1)) % c.VocabSize;
        var pairs = new TokenizedPairs(clean, corrupted, [3, 8, 12], [4, 9, 13]);
        var patcher = Patcher(model, pairs, MetricKind.LogitDiff, wholeLayers);
        var graph = patcher.Graph;
        var sets = Enumerable.Range(0, graph.EdgeCount).Select(e => Only(graph, e))
            .Concat(Enumerable.Range(0, 6).Select(i => Enumerable.Range(0, graph.EdgeCount).Select(_ => rng.NextDouble() < 0.15 * (i + 1)).ToArray()))
            .ToList();
        var fast = patcher.Evaluate(sets);
        Assert.Equal(6, patcher.SkippedPositions);
        int moved = 0;
        for (int i = 0; i < sets.Count; i++)
        {
            var names = Enumerable.Range(0, graph.EdgeCount).Where(e => sets[i][e]).Select(graph.EdgeName).ToArray();
            double naive = NaiveEdgePatching.Metric(model, patcher.Metric, names);
            Assert.True(Math.Abs(naive - fast[i]) <= Tolerance(naive), $"{string.Join(",", names.Take(3))}: fast {fast[i]}, naive {naive}");
            if (Math.Abs(naive - patcher.CleanMetric) > 1e-3) moved++;
        }
        Assert.True(moved > graph.EdgeCount / 4, $"only {moved} of {sets.Count} sets change the metric");
        double all = patcher.Evaluate(Enumerable.Repeat(true, graph.EdgeCount).ToArray());
        Assert.True(Math.Abs(all - patcher.CorruptedMetric) <= Tolerance(patcher.CorruptedMetric), $"all edges {all}, corrupted {patcher.CorruptedMetric}");
        Assert.Equal(0, new EdgePatcher(model, patcher.Metric, graph) { FullReruns = true }.SkippedPositions);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void UnsplitHeadInputsEqualTheNaiveRerun(bool wholeLayers)
    {
        var c = TinyModels.Gpt2Like(3);
        using var model = TinyModels.Create(c, seed: 17);
        var graph = CircuitGraph.Create(c, splitQkv: false);
        var patcher = Patcher(model, Pairs(c, 4), MetricKind.LogitDiff, wholeLayers, graph);
        var rng = new HeadMiner.Tensors.SeededRandom(8);
        for (int i = 0; i < 5; i++)
        {
            var set = Enumerable.Range(0, graph.EdgeCount).Select(_ => rng.NextDouble() < 0.3).ToArray();
            double naive = NaiveEdgePatching.Metric(model, patcher.Metric, Enumerable.Range(0, graph.EdgeCount).Where(e => set[e]).Select(graph.EdgeName));
            double fast = patcher.Evaluate(set);
            Assert.True(Math.Abs(naive - fast) <= Tolerance(naive), $"set {i}: fast {fast}, naive {naive}");
        }
    }

    [Theory]
    [MemberData(nameof(ConfigsBothWays))]
    public void NoEdgeIsCleanAndEveryEdgeIsCorrupted(int config, bool wholeLayers)
    {
        var c = Config(config);
        using var model = TinyModels.Create(c, seed: 19);
        var patcher = Patcher(model, Pairs(c, 6), MetricKind.LogitDiff, wholeLayers);
        int n = patcher.Graph.EdgeCount;
        Assert.Equal(patcher.CleanMetric, patcher.Evaluate(new bool[n]), 9);
        Assert.True(Math.Abs(patcher.CleanMetric - patcher.CorruptedMetric) > 1e-2);
        double all = patcher.Evaluate(Enumerable.Repeat(true, n).ToArray());
        Assert.True(Math.Abs(all - patcher.CorruptedMetric) <= Tolerance(patcher.CorruptedMetric), $"all edges {all}, corrupted {patcher.CorruptedMetric}");
    }

    /// <summary>
    /// Sets that cut every edge out of some heads and MLPs (whose output then enters the residual stream as the
    /// corrupted one, not computed) plus random other edges: still the naive rerun, in every layer.
    /// </summary>
    [Theory]
    [MemberData(nameof(Configs))]
    public void NodesWithEveryEdgeOutPatchedEqualTheNaiveRerun(int config)
    {
        var c = config switch { 0 => TinyModels.Gpt2Like(3), 1 => TinyModels.NeoXLike(3), _ => TinyModels.LlamaLike(3) };
        using var model = TinyModels.Create(c, seed: 37);
        var patcher = Patcher(model, Pairs(c, 12), MetricKind.LogitDiff, wholeLayers: false);
        var graph = patcher.Graph;
        var rng = new HeadMiner.Tensors.SeededRandom(41);
        for (int i = 0; i < 8; i++)
        {
            var set = Enumerable.Range(0, graph.EdgeCount).Select(_ => rng.NextDouble() < 0.2).ToArray();
            var silenced = graph.Senders.Where(s => s.Layer >= 0 && rng.NextDouble() < 0.4).ToArray();
            foreach (var s in silenced)
                foreach (int e in graph.EdgesOutOf[s.Index]) set[e] = true;
            var names = Enumerable.Range(0, graph.EdgeCount).Where(e => set[e]).Select(graph.EdgeName).ToArray();
            double naive = NaiveEdgePatching.Metric(model, patcher.Metric, names);
            double fast = patcher.Evaluate(set);
            Assert.True(Math.Abs(naive - fast) <= Tolerance(naive), $"set {i} (silenced {string.Join(",", silenced.Select(s => s.Name))}): fast {fast}, naive {naive}");
        }
    }

    [Fact]
    public void PostNormModelsAreRefusedByName()
    {
        var error = Assert.Throws<HeadMinerException>(() => CircuitGraph.Create(TinyModels.Olmo2Like()));
        Assert.Contains("post-sublayer norms", error.Message);
        Assert.Throws<HeadMinerException>(() => CircuitGraph.Create(TinyModels.LlamaLike(), splitQkv: false));
    }

    internal static bool[] Only(CircuitGraph graph, int edge)
    {
        var set = new bool[graph.EdgeCount];
        set[edge] = true;
        return set;
    }
}
