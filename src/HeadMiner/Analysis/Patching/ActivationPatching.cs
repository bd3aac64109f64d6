using HeadMiner.Hooks;
using HeadMiner.Hooks.Interventions;
using HeadMiner.Models;
using HeadMiner.Tasks;
using HeadMiner.Tensors;

namespace HeadMiner.Analysis.Patching;

/// <summary>Which run receives the patches.</summary>
public enum PatchDirection
{
    /// <summary>Run the corrupted input, patch in clean activations: which components restore the behaviour.</summary>
    Denoising,

    /// <summary>Run the clean input, patch in corrupted activations: which components are necessary.</summary>
    Noising,
}

/// <summary>Sweep results: the normalised metric for every patch, plus the raw values it was normalised with.</summary>
public sealed record PatchingResult(
    PatchTarget Target,
    PatchDirection Direction,
    string Metric,
    double CleanMetric,
    double CorruptedMetric,
    Tensor Raw,
    Tensor Normalized,
    string[] Axes,
    string WeightProcessing)
{
    /// <summary>Pairs (0-based) whose own clean and corrupted metrics are equal (<see cref="Tasks.Metric.IsDegenerate"/>).</summary>
    public int[] DegeneratePairs { get; init; } = [];
}

/// <summary>
/// Activation patching sweeps. Each patch copies one slice of one activation (a layer × position, layer × head or
/// layer × head × position cell) from the donor run into the base run and measures the metric, normalised as
/// (patched − corrupted) / (clean − corrupted).
/// <para>The optimised sweep does not redo what a naive loop of full forwards redoes: the base run is cached once;
/// patches at layer l resume from the cached resid_pre of layer l; a patch at position p reuses the base run's keys
/// and values of positions &lt; p (nothing before p can change) and recomputes only positions ≥ p; and many patches
/// run as one batched forward. <see cref="SweepNaive"/> is the straightforward loop, kept for the benchmark and
/// as the tests' reference.</para>
/// </summary>
public static class ActivationPatching
{
    /// <summary>Rows per batched forward: bounds the activation memory of one step (~rows × 4·d_mlp floats).</summary>
    public const int DefaultMaxRows = 2048;

    public static PatchingResult Sweep(Transformer model, TokenizedPairs pairs, PatchTarget target, MetricKind metricKind,
        PatchDirection direction = PatchDirection.Denoising, int maxRows = DefaultMaxRows, IProgress<double>? progress = null,
        CancellationToken cancel = default)
    {
        var plan = Plan.Create(model, pairs, target, metricKind, direction);
        RunCells(model, pairs, plan, null, maxRows, progress, cancel);
        return plan.Result();
    }

    /// <summary>
    /// The layers a sweep's patches fall into, in the order <see cref="Sweep"/> runs them: the work units of a split
    /// sweep. A layer is the unit because the batched forwards are formed inside one
    /// layer (its prefix groups and their chunks): a sweep of one layer runs exactly the forwards the whole sweep runs
    /// for it, so its cells come out bit for bit the same.
    /// </summary>
    public static int[] UnitLayers(ModelConfig config) => [.. Enumerable.Range(0, config.Layers)];

    /// <summary>
    /// Only the patches at <paramref name="layers"/>: their raw metric values by cell index (row-major over
    /// <see cref="PatchingResult.Axes"/>), exactly the values <see cref="Sweep"/> records for them.
    /// </summary>
    public static (int[] Cells, float[] Raw) SweepLayers(Transformer model, TokenizedPairs pairs, PatchTarget target, MetricKind metricKind,
        PatchDirection direction, IReadOnlyCollection<int> layers, int maxRows = DefaultMaxRows, CancellationToken cancel = default)
    {
        var plan = Plan.Create(model, pairs, target, metricKind, direction);
        var wanted = layers.ToHashSet();
        RunCells(model, pairs, plan, wanted, maxRows, null, cancel);
        var cells = plan.Cells.Where(cell => wanted.Contains(cell.Layer)).Select(cell => cell.Index).ToArray();
        return (cells, [.. cells.Select(i => plan.Raw.Span[i])]);
    }

    /// <summary>
    /// The sweep from parts: the clean and corrupted runs here, every patched value from <paramref name="parts"/>
    /// (<see cref="SweepLayers"/> results, any order; every cell exactly once).
    /// </summary>
    public static PatchingResult Merge(Transformer model, TokenizedPairs pairs, PatchTarget target, MetricKind metricKind,
        PatchDirection direction, IEnumerable<(int[] Cells, float[] Raw)> parts)
    {
        var plan = Plan.Create(model, pairs, target, metricKind, direction);
        var seen = new bool[plan.Raw.Length];
        foreach (var (cells, raw) in parts)
        {
            if (cells.Length != raw.Length) throw new HeadMinerException($"patching part: {cells.Length} cells but {raw.Length} values");
            for (int i = 0; i < cells.Length; i++)
            {
                int cell = cells[i];
                if ((uint)cell >= (uint)seen.Length) throw new HeadMinerException($"patching part: cell {cell} is outside the sweep's {seen.Length} cells");
                if (seen[cell]) throw new HeadMinerException($"patching part: cell {cell} arrived twice");
                seen[cell] = true;
                plan.Raw.Span[cell] = raw[i];
            }
        }
        int missing = Array.IndexOf(seen, false);
        if (missing >= 0) throw new HeadMinerException($"patching parts: cell {missing} (and {seen.Count(s => !s) - 1} more) never arrived");
        return plan.Result();
    }

    private static void RunCells(Transformer model, TokenizedPairs pairs, Plan plan, HashSet<int>? layers, int maxRows, IProgress<double>? progress, CancellationToken cancel)
    {
        var target = plan.Target;
        var direction = plan.Direction;
        var c = model.Config;
        int n = pairs.Count, T = pairs.Length;
        bool reusePrefix = plan.Metric.LastPositionOnly;
        var keySite = c.RotaryDim > 0 ? ActivationSite.RotK : ActivationSite.K;
        var baseBatch = direction == PatchDirection.Denoising ? pairs.CorruptedBatch() : pairs.CleanBatch();
        var (_, baseCache) = model.RunWithCache(baseBatch, CacheFilter.Where(h => h.Site == ActivationSite.ResidPre || h.Site == keySite || h.Site == ActivationSite.V));
        int kvw = c.KvHeads * c.DHead, d = c.DModel;

        var keys = new float[c.Layers][];
        var values = new float[c.Layers][];
        var residPre = new float[c.Layers][];
        for (int l = 0; l < c.Layers; l++)
        {
            keys[l] = baseCache[keySite, l].ToArray();
            values[l] = baseCache[ActivationSite.V, l].ToArray();
            residPre[l] = baseCache[ActivationSite.ResidPre, l].ToArray();
        }

        int done = 0, total = plan.Cells.Count;
        foreach (var layerGroup in plan.Cells.GroupBy(cell => cell.Layer))
        {
            if (layers is not null && !layers.Contains(layerGroup.Key)) continue;
            int l = layerGroup.Key;
            // Patches at position p share the prefix [0, p); patches of every position (p = −1) have none.
            foreach (var prefixGroup in layerGroup.GroupBy(cell => reusePrefix ? Math.Max(cell.Position, 0) : 0))
            {
                int prefix = prefixGroup.Key, S = T - prefix;
                var cells = prefixGroup.ToArray();
                int perChunk = Math.Max(1, maxRows / (n * S));
                for (int start = 0; start < cells.Length; start += perChunk)
                {
                    cancel.ThrowIfCancellationRequested();
                    var chunk = cells.AsSpan(start, Math.Min(perChunk, cells.Length - start)).ToArray();
                    int sequences = chunk.Length * n;
                    // Row s = variant·n + pair: the base run's suffix, resumed at layer l.
                    var resume = new float[sequences * S * d];
                    var ids = new int[sequences * S];
                    for (int v = 0; v < chunk.Length; v++)
                        for (int i = 0; i < n; i++)
                        {
                            int s = v * n + i;
                            residPre[l].AsSpan((i * T + prefix) * d, S * d).CopyTo(resume.AsSpan(s * S * d, S * d));
                            baseBatch.Ids.AsSpan(i * T + prefix, S).CopyTo(ids.AsSpan(s * S, S));
                        }
                    var hooks = new HookSet(c);
                    hooks.Add(HookName.Of(target.Site, l), (activation, _) =>
                    {
                        for (int v = 0; v < chunk.Length; v++)
                            for (int i = 0; i < n; i++)
                                plan.Apply(chunk[v], activation, v * n + i, i, prefix);
                    });
                    var result = model.Run(new TokenBatch(ids, sequences, S), new ForwardOptions
                    {
                        Hooks = hooks,
                        LastOnly = plan.Metric.LastPositionOnly,
                        StartLayer = l,
                        StartResidual = resume,
                        PrefixLength = prefix,
                        PrefixKeysValues = prefix == 0 ? null : (layer, s) =>
                        {
                            int pair = s % n;
                            return (keys[layer].AsMemory(pair * T * kvw, prefix * kvw), values[layer].AsMemory(pair * T * kvw, prefix * kvw));
                        },
                    });
                    var metrics = plan.Metric.ComputeMany(result.Logits!, plan.BaseTokens);
                    for (int v = 0; v < chunk.Length; v++) plan.Record(chunk[v], metrics[v]);
                    done += chunk.Length;
                    progress?.Report((double)done / total);
                }
            }
        }
    }

    /// <summary>The reference loop: one full forward (all pairs, from the embedding) per patch.</summary>
    public static PatchingResult SweepNaive(Transformer model, TokenizedPairs pairs, PatchTarget target, MetricKind metricKind,
        PatchDirection direction = PatchDirection.Denoising, IProgress<double>? progress = null, CancellationToken cancel = default)
    {
        var plan = Plan.Create(model, pairs, target, metricKind, direction);
        var baseBatch = direction == PatchDirection.Denoising ? pairs.CorruptedBatch() : pairs.CleanBatch();
        int done = 0;
        foreach (var cell in plan.Cells)
        {
            cancel.ThrowIfCancellationRequested();
            var hooks = new HookSet(model.Config);
            hooks.Add(HookName.Of(target.Site, cell.Layer), (activation, _) =>
            {
                for (int i = 0; i < pairs.Count; i++) plan.Apply(cell, activation, i, i, 0);
            });
            var logits = model.Run(baseBatch, new ForwardOptions { Hooks = hooks, LastOnly = plan.Metric.LastPositionOnly }).Logits!;
            plan.Record(cell, plan.Metric.Compute(logits, plan.BaseTokens));
            progress?.Report((double)++done / plan.Cells.Count);
        }
        return plan.Result();
    }

    /// <summary>One patch: a layer, a head (−1 = all) and a position (−1 = all).</summary>
    private readonly record struct Cell(int Layer, int Head, int Position, int Index);

    /// <summary>What both sweeps share: the cells, the donor activations, the metric and the result tables.</summary>
    private sealed class Plan
    {
        public required PatchTarget Target { get; init; }
        public required PatchDirection Direction { get; init; }
        public required Metric Metric { get; init; }
        public required List<Cell> Cells { get; init; }
        public required Tensor[] Donor { get; init; }
        public required Tensor Raw { get; init; }
        public required int[] Shape { get; init; }
        public required string[] Axes { get; init; }
        public required double Clean { get; init; }
        public required double Corrupted { get; init; }
        public required int[] DegeneratePairs { get; init; }
        public required int[][] BaseTokens { get; init; }
        public required string Processing { get; init; }

        public static Plan Create(Transformer model, TokenizedPairs pairs, PatchTarget target, MetricKind kind, PatchDirection direction)
        {
            var c = model.Config;
            if (!HookName.Exists(c, target.Site)) throw new HeadMinerException($"a {c.Architecture} model has no {target.Site} activation to patch");
            bool needsAll = kind == MetricKind.Loss;
            var cleanBatch = pairs.CleanBatch();
            var corruptedBatch = pairs.CorruptedBatch();
            var donorBatch = direction == PatchDirection.Denoising ? cleanBatch : corruptedBatch;
            var (donorRun, donorCache) = model.RunWithCache(donorBatch, CacheFilter.Where(h => h.Site == target.Site), lastOnly: !needsAll);
            var otherRun = model.Run(direction == PatchDirection.Denoising ? corruptedBatch : cleanBatch, new ForwardOptions { LastOnly = !needsAll });
            var cleanLogits = direction == PatchDirection.Denoising ? donorRun.Logits! : otherRun.Logits!;
            var corruptedLogits = direction == PatchDirection.Denoising ? otherRun.Logits! : donorRun.Logits!;
            // Broken weights stop the sweep here, naming the first hook point with NaN, instead of filling it with NaN.
            FiniteForward.Check(model, cleanBatch, cleanLogits, "the clean prompts");
            FiniteForward.Check(model, corruptedBatch, corruptedLogits, "the corrupted prompts");
            var metric = new Metric(kind, pairs, kind == MetricKind.KlDivergence ? cleanLogits : null);
            var baseTokens = direction == PatchDirection.Denoising ? pairs.Corrupted : pairs.Clean;
            var cleanPerPair = metric.PerPair(cleanLogits, pairs.Clean);
            var corruptedPerPair = metric.PerPair(corruptedLogits, pairs.Corrupted);
            double clean = cleanPerPair.Average(), corrupted = corruptedPerPair.Average();

            int heads = target.PerKvHead ? c.KvHeads : c.Heads, T = pairs.Length;
            var cells = new List<Cell>();
            int[] shape;
            string[] axes;
            switch (target.Granularity)
            {
                case PatchGranularity.LayerPosition:
                    shape = [c.Layers, T];
                    axes = ["layer", "position"];
                    for (int l = 0; l < c.Layers; l++) for (int p = 0; p < T; p++) cells.Add(new(l, -1, p, l * T + p));
                    break;
                case PatchGranularity.LayerHead:
                    shape = [c.Layers, heads];
                    axes = ["layer", target.PerKvHead ? "kv_head" : "head"];
                    for (int l = 0; l < c.Layers; l++) for (int h = 0; h < heads; h++) cells.Add(new(l, h, -1, l * heads + h));
                    break;
                default:
                    shape = [c.Layers, heads, T];
                    axes = ["layer", target.PerKvHead ? "kv_head" : "head", "position"];
                    for (int l = 0; l < c.Layers; l++) for (int h = 0; h < heads; h++) for (int p = 0; p < T; p++) cells.Add(new(l, h, p, (l * heads + h) * T + p));
                    break;
            }
            return new Plan
            {
                Target = target,
                Direction = direction,
                Metric = metric,
                Cells = cells,
                Donor = Enumerable.Range(0, c.Layers).Select(l => donorCache[target.Site, l]).ToArray(),
                Raw = Tensor.Zeros(shape),
                Shape = shape,
                Axes = axes,
                Clean = clean,
                Corrupted = corrupted,
                DegeneratePairs = Tasks.Metric.DegeneratePairs(cleanPerPair, corruptedPerPair),
                BaseTokens = baseTokens,
                Processing = model.Processing.ToString(),
            };
        }

        /// <summary>Copies the donor's slice for <paramref name="cell"/> (pair <paramref name="pair"/>) into row <paramref name="row"/> of a run whose positions start at <paramref name="prefix"/>.</summary>
        public void Apply(Cell cell, Tensor activation, int row, int pair, int prefix)
        {
            var donor = Donor[cell.Layer].Select(0, pair);
            var target = activation.Select(0, row);
            bool pattern = Target.Site == ActivationSite.Pattern; // [H, Tq, Tk]; others [T, (H,) …]
            if (cell.Head >= 0)
            {
                int axis = pattern ? 0 : 1;
                donor = donor.Select(axis, cell.Head);
                target = target.Select(axis, cell.Head);
            }
            int positionAxis = pattern && cell.Head < 0 ? 1 : 0;
            if (cell.Position >= 0)
            {
                donor = donor.Select(positionAxis, cell.Position);
                target = target.Select(positionAxis, cell.Position - prefix);
            }
            else if (prefix > 0) donor = donor.Slice(positionAxis, prefix, donor.Dim(positionAxis) - prefix);
            donor.CopyTo(target);
        }

        public void Record(Cell cell, double value) => Raw.Span[cell.Index] = (float)value;

        public PatchingResult Result()
        {
            var normalized = Tensor.Zeros(Shape);
            for (int i = 0; i < Raw.Length; i++) normalized.Span[i] = (float)Metric.Normalize(Raw.Span[i], Clean, Corrupted);
            return new PatchingResult(Target, Direction, Metric.Name, Clean, Corrupted, Raw, normalized, Axes, Processing) { DegeneratePairs = DegeneratePairs };
        }
    }
}
