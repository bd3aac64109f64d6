using HeadMiner.Models;
using HeadMiner.Tasks;

namespace HeadMiner.Analysis.Attribution;

/// <summary>One prompt shard: pairs [<see cref="Start"/>, <see cref="Start"/> + <see cref="Count"/>) of the set.</summary>
public sealed record AttributionShard(int Index, int Start, int Count);

/// <summary>
/// What one shard adds to the whole set's attribution: the metric summed over its pairs (clean and corrupted runs),
/// and per head/MLP cell and per edge the estimate summed over its pairs, each in double. Shards add these up in
/// shard order (<see cref="AttributionShards.Merge"/>).
/// </summary>
public sealed record AttributionPartial(
    int Shard,
    int Pairs,
    string Metric,
    string WeightProcessing,
    double CleanMetricSum,
    double CorruptedMetricSum,
    double[] Heads,
    double[] Mlp,
    string[]? EdgeSenders,
    string[]? EdgeReceivers,
    double[]? EdgeScores);

/// <summary>
/// Attribution patching over prompt shards: each shard of at most <c>shardPairs</c> pairs runs its own two forwards
/// and one backward (its gradient seeded as its share of the whole set's mean metric), and the shards' sums are added
/// in shard order. The local command and a cluster run (one unit per shard) both take this path, so they write the
/// same bytes: a float sum's bits depend on how it is grouped, and both group it by the same shards. A set that fits
/// one shard gives exactly <see cref="AttributionPatching.Nodes(AttributionRuns, TokenizedPairs)"/>'s and
/// <see cref="EdgeAttributionPatching.Run(AttributionRuns)"/>'s numbers. Shards also bound memory: the
/// activations and gradients held at once are one shard's.
/// </summary>
public static class AttributionShards
{
    /// <summary>Pairs per shard unless the command says otherwise: large enough for efficient batched GEMMs, small enough to spread a few hundred pairs over workers.</summary>
    public const int DefaultShardPairs = 16;

    public static IReadOnlyList<AttributionShard> Plan(int pairs, int shardPairs)
    {
        if (pairs <= 0) throw new HeadMinerException("attribution patching needs at least one prompt pair");
        if (shardPairs <= 0) throw new HeadMinerException($"pairs per shard must be positive, not {shardPairs}");
        var shards = new List<AttributionShard>();
        for (int start = 0; start < pairs; start += shardPairs) shards.Add(new AttributionShard(shards.Count, start, Math.Min(shardPairs, pairs - start)));
        return shards;
    }

    /// <summary>The pairs of one shard.</summary>
    public static TokenizedPairs Slice(TokenizedPairs pairs, AttributionShard shard)
    {
        ArgumentNullException.ThrowIfNull(pairs);
        ArgumentNullException.ThrowIfNull(shard);
        if (shard.Start < 0 || shard.Count <= 0 || shard.Start + shard.Count > pairs.Count)
            throw new HeadMinerException($"attribution shard {shard.Index} covers pairs {shard.Start}..{shard.Start + shard.Count - 1}, but the set has {pairs.Count}");
        return new TokenizedPairs(pairs.Clean[shard.Start..(shard.Start + shard.Count)], pairs.Corrupted[shard.Start..(shard.Start + shard.Count)],
            pairs.Answers[shard.Start..(shard.Start + shard.Count)], pairs.Wrongs[shard.Start..(shard.Start + shard.Count)]);
    }

    /// <summary>One shard's two forwards, one backward and sums; <paramref name="pairs"/> is the whole set (its size sets the mean).</summary>
    public static AttributionPartial Run(Transformer model, TokenizedPairs pairs, MetricKind metric, AttributionShard shard, bool edges)
    {
        ArgumentNullException.ThrowIfNull(model);
        var part = Slice(pairs, shard);
        var forward = new DifferentiableTransformer(model);
        var clean = forward.Run(part.CleanBatch(), withGradient: false);
        var corrupted = forward.Run(part.CorruptedBatch(), withGradient: true);
        var (cleanSum, _) = MetricGradient.Accumulate(metric, part, clean.Logits.Value, clean.Logits.Value, pairs.Count);
        var (corruptedSum, gradient) = MetricGradient.Accumulate(metric, part, corrupted.Logits.Value, clean.Logits.Value, pairs.Count);
        DifferentiableTransformer.Backward(corrupted, gradient);
        string name = new Metric(metric, part, metric == MetricKind.KlDivergence ? clean.Logits.Value.Reshape(part.Count, 1, -1) : null).Name;
        // The shard's own means: only their names and the run tensors are read below, never these values.
        var runs = new AttributionRuns(forward, clean, corrupted, name, cleanSum / part.Count, corruptedSum / part.Count, model.Processing.ToString());
        var (heads, mlp) = AttributionPatching.CellSums(runs, part.Count, part.Length);
        var scores = edges ? EdgeAttributionPatching.Scores(runs) : null;
        return new AttributionPartial(shard.Index, part.Count, name, runs.WeightProcessing, cleanSum, corruptedSum, heads, mlp,
            scores?.Select(e => e.Sender).ToArray(), scores?.Select(e => e.Receiver).ToArray(), scores?.Select(e => e.Score).ToArray());
    }

    /// <summary>
    /// Every shard's partial (in any order; each shard exactly once) → the whole set's node result and, when the
    /// partials carry edges, the edge result: sums added in shard order, means over <paramref name="pairs"/>.
    /// </summary>
    public static (AttributionPatchingResult Nodes, EdgeAttributionResult? Edges) Merge(ModelConfig config, int pairs, int length, IEnumerable<AttributionPartial> partials)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(partials);
        var ordered = partials.OrderBy(p => p.Shard).ToList();
        if (ordered.Count == 0) throw new HeadMinerException("attribution merge: no shards");
        for (int i = 0; i < ordered.Count; i++)
            if (ordered[i].Shard != i)
                throw new HeadMinerException(ordered[i].Shard < i ? $"attribution merge: shard {ordered[i].Shard} is given twice" : $"attribution merge: shard {i} is missing");
        if (ordered.Sum(p => p.Pairs) != pairs)
            throw new HeadMinerException($"attribution merge: the shards cover {ordered.Sum(p => p.Pairs)} pairs, but the set has {pairs}");
        var first = ordered[0];
        double clean = 0, corrupted = 0;
        var heads = new double[first.Heads.Length];
        var mlp = new double[first.Mlp.Length];
        var edgeScores = first.EdgeScores is null ? null : new double[first.EdgeScores.Length];
        foreach (var p in ordered)
        {
            if (p.Heads.Length != heads.Length || p.Mlp.Length != mlp.Length || p.Metric != first.Metric || p.WeightProcessing != first.WeightProcessing)
                throw new HeadMinerException($"attribution merge: shard {p.Shard} does not match shard 0 (cells, metric or weight processing)");
            clean += p.CleanMetricSum;
            corrupted += p.CorruptedMetricSum;
            for (int i = 0; i < heads.Length; i++) heads[i] += p.Heads[i];
            for (int i = 0; i < mlp.Length; i++) mlp[i] += p.Mlp[i];
            if (edgeScores is null) continue;
            if (p.EdgeScores is null || p.EdgeScores.Length != edgeScores.Length || !p.EdgeSenders!.SequenceEqual(first.EdgeSenders!) || !p.EdgeReceivers!.SequenceEqual(first.EdgeReceivers!))
                throw new HeadMinerException($"attribution merge: shard {p.Shard}'s edges do not match shard 0's");
            for (int i = 0; i < edgeScores.Length; i++) edgeScores[i] += p.EdgeScores[i];
        }
        double cleanMean = clean / pairs, corruptedMean = corrupted / pairs;
        var nodes = AttributionPatching.Result(config, length, heads, mlp, first.Metric, cleanMean, corruptedMean, first.WeightProcessing);
        var edgeResult = edgeScores is null ? null
            : EdgeAttributionPatching.Ranked(edgeScores.Select((s, i) => (first.EdgeSenders![i], first.EdgeReceivers![i], s)), first.Metric, cleanMean, corruptedMean, first.WeightProcessing);
        return (nodes, edgeResult);
    }

    /// <summary>The whole set in this process: every shard in order, then <see cref="Merge"/>.</summary>
    public static (AttributionPatchingResult Nodes, EdgeAttributionResult? Edges) RunAll(Transformer model, TokenizedPairs pairs, MetricKind metric, bool edges, int shardPairs = DefaultShardPairs, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(pairs);
        var partials = new List<AttributionPartial>();
        foreach (var shard in Plan(pairs.Count, shardPairs))
        {
            cancel.ThrowIfCancellationRequested();
            partials.Add(Run(model, pairs, metric, shard, edges));
        }
        return Merge(model.Config, pairs.Count, pairs.Length, partials);
    }
}
