using System.Globalization;
using HeadMiner.Analysis.Detectors;
using HeadMiner.Hooks;
using HeadMiner.Hooks.Interventions;
using HeadMiner.Models;
using HeadMiner.Tensors;

namespace HeadMiner.Analysis.Atlas;

/// <summary>
/// Is a label causal? For a detector's labelled heads (best first, at most <see cref="AtlasOptions.CausalHeads"/>; the
/// single best head when none passes the threshold) measure the task metric with each head ablated alone and with all
/// of them together, under three ablations of the head's z (its output before W_O):
/// zero (z = 0), mean (z = its mean over every prompt and position of the task) and resample (z = its value on a
/// different prompt of the task of the same length, a seeded derangement; <see cref="ZRecording"/>).
/// Each effect (how much worse the metric got) is ranked among random heads' effects: heads without the label ablated
/// alone (all of them, or a seeded sample of <see cref="AtlasOptions.RandomHeads"/>) for "alone", and
/// <see cref="AtlasOptions.RandomDraws"/> seeded random sets of as many unlabelled heads for "together".
/// Grade (<see cref="GradeRule"/>): a labelled head is causally_confirmed when, under at least one ablation kind, its
/// alone effect is positive and at or above the 95th percentile of the random single heads, or the labelled set's
/// together effect is at or above the 95th percentile of the random sets, the head's alone effect is positive and at
/// least the random heads' median, and its leave-one-out contribution to the set is positive and at or above the 95th
/// percentile of the random single heads; otherwise pattern_only.
/// </summary>
public static class CausalConfirmation
{
    public static readonly IReadOnlyList<string> Kinds = ["zero", "mean", "resample"];

    /// <summary>Random heads the best head is compared with when no head is labelled (nothing is graded then).</summary>
    public const int UngradedSample = 8;

    public const double ConfirmPercentile = 95;

    /// <summary>
    /// The together route also asks the head's own alone effect to be positive and at least the random heads' median:
    /// the leave-one-out contribution is measured in a model with the rest of the set ablated, where removing one more
    /// head tends to hurt more than in the intact model (on stories260K each of the eight subword_merge heads checked,
    /// even those whose ablation alone lowers the loss, passes the leave-one-out test).
    /// </summary>
    public const double MemberPercentile = 50;

    public const string GradeRule =
        "causally_confirmed when, under at least one ablation (zero, mean, resample), either the head's alone effect is > 0 and at or above the 95th percentile of random single heads' alone effects, " +
        "or the labelled heads' together effect is at or above the 95th percentile of random sets of as many heads, the head's alone effect is > 0 and at least the random single heads' median (percentile ≥ 50), " +
        "and its leave-one-out contribution to the set (together effect minus the effect of the set without it) is > 0 and at or above the 95th percentile of random single heads' alone effects; otherwise pattern_only. " +
        "Percentiles are mid-rank: 100 · (#random below + ½ · #random equal) / #random.";

    /// <summary>
    /// Evaluations of one task shared between detectors (previous_token, duplicate_token and induction can share the
    /// repeated-tokens loss): the clean value, recorded z for mean/resample and every single-head ablation already made.
    /// Keyed by <see cref="CausalTask.Key"/>; tasks without a key are not shared.
    /// </summary>
    public sealed class Cache
    {
        internal readonly Dictionary<string, Session> Sessions = [];
    }

    public static AtlasCausal Run(Transformer model, CausalTask task, DetectorResult result, AtlasOptions options, CancellationToken cancel = default, Cache? cache = null)
    {
        var config = model.Config;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var labelled = result.Labelled().Select(h => (h.Layer, h.Head)).ToHashSet();
        var ranked = result.Ranked();
        var tested = (labelled.Count > 0 ? ranked.Where(h => labelled.Contains((h.Layer, h.Head))) : ranked.Take(1)).Take(options.CausalHeads)
            .Select(h => (h.Layer, h.Head)).ToArray();
        if (tested.Length == 0) throw new HeadMinerException($"{result.DetectorId}: no head has a score, so there is nothing to ablate");
        var notes = new List<string>();
        if (labelled.Count > tested.Length)
            notes.Add($"{labelled.Count} heads are labelled; the best {tested.Length} were ablated (cap {options.CausalHeads}, --causal-heads); the rest are not graded");

        var session = cache is not null && task.Key is { } key
            ? (cache.Sessions.TryGetValue(key, out var s) ? s : cache.Sessions[key] = new Session(model, task, options.Detector.Seed))
            : new Session(model, task, options.Detector.Seed);
        int evaluationsBefore = session.Evaluations;
        cancel.ThrowIfCancellationRequested();

        // Random single heads: every head without the label, or a seeded sample.
        var pool = new List<(int Layer, int Head)>();
        for (int l = 0; l < config.Layers; l++)
            for (int h = 0; h < config.Heads; h++)
                if (!labelled.Contains((l, h)) && !tested.Contains((l, h))) pool.Add((l, h));
        // With no label there is nothing to grade: the best head is only measured, against a small sample.
        int randomHeads = labelled.Count > 0 ? options.RandomHeads : Math.Min(options.RandomHeads, UngradedSample);
        var aloneRandom = pool.Count <= randomHeads ? [.. pool] : FirstInPool(config, options.Detector.Seed, 0, pool, randomHeads).OrderBy(h => h).ToArray();
        // Nothing to grade: zero ablation alone is enough to show how much the best head matters (a third of the cost).
        IReadOnlyList<string> kinds = labelled.Count > 0 ? Kinds : ["zero"];
        if (labelled.Count == 0) notes.Add($"no head is labelled: the best-scoring head is measured (not graded), zero-ablated, against {aloneRandom.Length} random heads");
        else if (pool.Count > randomHeads) notes.Add($"alone effects are ranked among a seeded sample of {randomHeads} of the {pool.Count} unlabelled heads");
        var draws = new List<(int Layer, int Head)[]>();
        if (tested.Length == 1) draws.AddRange(aloneRandom.Select(h => new[] { h })); // sets of one = the random single heads
        else if (pool.Count >= tested.Length)
            for (int d = 0; d < options.RandomDraws; d++) draws.Add(FirstInPool(config, options.Detector.Seed, 1 + d, pool, tested.Length));
        else notes.Add($"only {pool.Count} unlabelled heads: no random sets of {tested.Length}");

        if (labelled.Count > 0) session.Record([.. tested, .. aloneRandom, .. draws.SelectMany(d => d)]);
        if (session.Recording.Values.FirstOrDefault() is { ResampleFallbacks: > 0 } r)
            notes.Add($"resample ablation: {r.ResampleFallbacks} of {r.Rows} prompts have no other prompt of their length and get the mean instead");

        var perKindAlone = new Dictionary<string, double[]>();
        var together = new List<AtlasTogether>();
        var randomAlone = new List<AtlasRandomAlone>();
        foreach (var kind in kinds)
        {
            cancel.ThrowIfCancellationRequested();
            var effects = aloneRandom.Select(h => session.Effect(kind, [h])).ToArray();
            perKindAlone[kind] = effects;
            randomAlone.Add(new AtlasRandomAlone { Ablation = kind, Heads = [.. aloneRandom.Select(h => new[] { h.Layer, h.Head })], Effects = [.. effects.Select(Round)] });
            var randomSets = draws.Select(d => session.Effect(kind, d)).ToArray();
            double setEffect = session.Effect(kind, tested);
            together.Add(new AtlasTogether
            {
                Ablation = kind,
                Value = Round(session.Value(kind, tested)),
                Effect = Round(setEffect),
                Percentile = Percentile(setEffect, randomSets),
                RandomEffects = [.. randomSets.Select(Round)],
            });
        }

        var perHead = new List<AtlasHeadEffect>();
        foreach (var (l, h) in tested)
        {
            var rest = tested.Where(x => x != (l, h)).ToArray();
            var alone = kinds.Select(kind =>
            {
                double e = session.Effect(kind, [(l, h)]);
                // What the head adds to the rest of the labelled set (leave-one-out); a head that only rides along
                // with a strong partner adds ~0 even when the set's effect is extreme. Only needed (and so only
                // measured) when the set's together effect passes.
                double? marginal = rest.Length == 0 ? e
                    : together.First(t => t.Ablation == kind).Percentile >= ConfirmPercentile ? session.Effect(kind, tested) - session.Effect(kind, rest)
                    : null;
                return new AtlasAblationEffect
                {
                    Ablation = kind,
                    Value = Round(session.Value(kind, [(l, h)])),
                    Effect = Round(e),
                    Percentile = Percentile(e, perKindAlone[kind]),
                    Marginal = marginal is double m ? Round(m) : null,
                    MarginalPercentile = marginal is double mm ? Percentile(mm, perKindAlone[kind]) : null,
                };
            }).ToList();
            bool isLabelled = labelled.Contains((l, h));
            string? grade = null, reason = null;
            AtlasAblationEffect? decisive = null;
            if (isLabelled)
            {
                foreach (var a in alone)
                {
                    var set = together.First(t => t.Ablation == a.Ablation);
                    if (a.Effect > 0 && a.Percentile >= ConfirmPercentile)
                        reason = $"{a.Ablation} ablation alone: effect {Fmt(a.Effect)}, percentile {Fmt(a.Percentile)} among {perKindAlone[a.Ablation].Length} random heads";
                    else if (set.Percentile >= ConfirmPercentile && a.Effect > 0 && a.Percentile >= MemberPercentile && a.Marginal > 0 && a.MarginalPercentile >= ConfirmPercentile)
                        reason = $"{a.Ablation} ablation: the labelled set together {Fmt(set.Effect)}, percentile {Fmt(set.Percentile)} among {set.RandomEffects.Count} random sets; without this head the set loses {Fmt(a.Marginal)} (percentile {Fmt(a.MarginalPercentile)} among random single heads); alone {Fmt(a.Effect)} (percentile {Fmt(a.Percentile)})";
                    if (reason is null) continue;
                    decisive = a;
                    break;
                }
                grade = decisive is null ? AtlasCausal.PatternOnly : AtlasCausal.Confirmed;
                reason ??= "no ablation moves the metric beyond random heads: best alone percentile "
                    + Fmt(alone.Max(a => a.Percentile ?? 0)) + ", together percentile " + Fmt(together.Max(t => t.Percentile ?? 0));
            }
            decisive ??= alone.OrderByDescending(a => a.Percentile ?? double.NegativeInfinity).ThenByDescending(a => a.Effect).First();
            var decisiveSet = together.First(t => t.Ablation == decisive.Ablation);
            perHead.Add(new AtlasHeadEffect
            {
                Layer = l,
                Head = h,
                Score = Math.Round(result.Score(l, h), 6),
                Labelled = isLabelled,
                Alone = alone,
                Grade = grade,
                GradeReason = reason,
                Ablation = decisive.Ablation,
                EffectAlone = decisive.Effect,
                PercentileAlone = decisive.Percentile,
                EffectTogether = decisiveSet.Effect,
                PercentileTogether = decisiveSet.Percentile,
            });
        }

        var zero = together.First(t => t.Ablation == "zero");
        var zeroRandomValues = draws.Select(d => session.Value("zero", d)).ToList();
        return new AtlasCausal
        {
            Metric = task.Metric,
            HigherIsBetter = task.HigherIsBetter,
            Ablation = "zero",
            Heads = [.. tested.Select(h => new[] { h.Layer, h.Head })],
            Baseline = session.Baseline,
            TopHeadsValue = session.Value("zero", tested),
            RandomHeadsValue = zeroRandomValues.Count > 0 ? zeroRandomValues.Average() : null,
            RandomHeadsMedian = zeroRandomValues.Count > 0 ? Median(zeroRandomValues) : null,
            RandomDraws = [.. draws.Select(d => (IReadOnlyList<int[]>)[.. d.Select(h => new[] { h.Layer, h.Head })])],
            RandomValues = zeroRandomValues,
            PerHead = perHead,
            Together = together,
            RandomAlone = randomAlone,
            GradeRule = GradeRule,
            Notes = notes,
            Evaluations = session.Evaluations - evaluationsBefore,
            Seconds = Math.Round(clock.Elapsed.TotalSeconds, 3),
        };
    }

    /// <summary>Mid-rank percentile of <paramref name="value"/> among <paramref name="random"/>, in [0, 100]; null when there are none.</summary>
    public static double? Percentile(double value, IReadOnlyCollection<double> random)
    {
        if (random.Count == 0) return null;
        double below = random.Count(r => r < value), equal = random.Count(r => r == value);
        return Math.Round(100 * (below + 0.5 * equal) / random.Count, 2);
    }

    private static double Round(double v) => Math.Round(v, 6);

    private static string Fmt(double? v) => v is double d ? d.ToString("0.###", CultureInfo.InvariantCulture) : "n/a";

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        int n = sorted.Length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    /// <summary>
    /// k distinct heads of <paramref name="pool"/>: the first pool members in a seeded random order of all the model's
    /// heads (one order per <paramref name="stream"/>: 0 for the random single heads, 1 + d for random set d). Every
    /// detector whose check runs the same task draws from the same orders, so their random heads coincide except where
    /// one detector's labelled heads are excluded; the session then evaluates each shared ablation once (a shuffle of
    /// each detector's own pool would shift every draw after its first excluded head). Each draw is still a uniform
    /// sample of the pool: the pool's members keep a uniformly random relative order.
    /// </summary>
    internal static (int Layer, int Head)[] FirstInPool(ModelConfig config, ulong seed, int stream, List<(int Layer, int Head)> pool, int k)
    {
        var members = pool.ToHashSet();
        var order = new (int Layer, int Head)[config.Layers * config.Heads];
        for (int l = 0, i = 0; l < config.Layers; l++)
            for (int h = 0; h < config.Heads; h++) order[i++] = (l, h);
        var random = new SeededRandom(seed ^ 0xAB1A7EUL ^ ((ulong)stream * 0x9E3779B97F4A7C15UL));
        var picked = new List<(int Layer, int Head)>(k);
        // Fisher–Yates, stopped once k pool members have come up.
        for (int i = 0; i < order.Length && picked.Count < k; i++)
        {
            int j = i + random.NextInt(order.Length - i);
            (order[i], order[j]) = (order[j], order[i]);
            if (members.Contains(order[i])) picked.Add(order[i]);
        }
        return [.. picked];
    }

    internal sealed class Session(Transformer model, CausalTask task, ulong seed)
    {
        private readonly Dictionary<string, double> _values = [];
        private double? _baseline;

        public Dictionary<(int Layer, int Head), ZRecording> Recording { get; } = [];

        public int Evaluations { get; private set; }

        public double Baseline => _baseline ??= Evaluate(new HookSet(model.Config));

        private double Evaluate(HookSet hooks)
        {
            Evaluations++;
            return task.Evaluate(hooks);
        }

        /// <summary>Records z for the heads not recorded yet (one clean run of the task).</summary>
        public void Record(IEnumerable<(int Layer, int Head)> heads)
        {
            var missing = heads.Distinct().Where(h => !Recording.ContainsKey(h)).ToArray();
            if (missing.Length == 0) return;
            var recording = ZRecording.Record(model.Config, missing, hooks => Evaluate(hooks), seed);
            foreach (var h in missing) Recording[h] = recording;
        }

        public double Value(string kind, IReadOnlyList<(int Layer, int Head)> heads)
        {
            string key = kind + ":" + string.Join(",", heads.Select(h => $"{h.Layer}.{h.Head}").Order());
            if (_values.TryGetValue(key, out double v)) return v;
            var hooks = new HookSet(model.Config);
            foreach (var (l, h) in heads)
            {
                switch (kind)
                {
                    case "zero": HeadAblation.Zero(hooks, l, h); break;
                    case "mean": Recording[(l, h)].AddMean(hooks, l, h); break;
                    case "resample": Recording[(l, h)].AddResample(hooks, l, h); break;
                    default: throw new ArgumentException($"unknown ablation {kind}");
                }
            }
            return _values[key] = Evaluate(hooks);
        }

        /// <summary>How much worse the metric got (positive = the heads matter).</summary>
        public double Effect(string kind, IReadOnlyList<(int Layer, int Head)> heads)
        {
            double v = Value(kind, heads);
            return task.HigherIsBetter ? Baseline - v : v - Baseline;
        }
    }
}
