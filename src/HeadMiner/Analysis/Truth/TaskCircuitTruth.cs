using HeadMiner.Analysis.Detectors;
using HeadMiner.Analysis.Patching;
using HeadMiner.Hooks;
using HeadMiner.Models;
using HeadMiner.Models.Tokenizers;
using HeadMiner.Tasks;
using HeadMiner.Tasks.Sets;
using HeadMiner.Tasks.Synthetic;
using HeadMiner.Tensors;

namespace HeadMiner.Analysis.Truth;

/// <summary>
/// The ground truth of a trained model's task heads, found the way the IOI paper found its circuit (Wang et al. 2023):
/// path patching from every head to the logits, every other head frozen and the MLPs recomputed on the paths, tells
/// which heads carry a task; what each carrying head attends to tells which role it plays. Per head type of the atlas
/// (<see cref="Types"/>) on the type's task set:
/// <list type="bullet">
/// <item><b>carries</b>: its path moves at least <see cref="CarryShare"/> of the clean → corrupted change of the
/// metric (sign −1 types: works against it by that much);</item>
/// <item><b>takes part</b>: its share's 95% bootstrap interval over the prompt pairs lies wholly on the type's side of
/// 0 (a small but real contribution, as the IOI paper's backup name movers);</item>
/// <item><b>plays the role</b>: the type's mechanism — at END it attends to the type's source token (IO for name
/// movers, the needle, the acronym's third word, the correct option's letter, YY; S2 for S-inhibition) with at least
/// <see cref="RoleAttention"/> of its attention and at least <see cref="RoleSelectivity"/> × what it gives the
/// type's distractors (S1 and S2 for name movers; the other words or letters); successor heads have no source token
/// and are defined by their OV circuit (Gould et al. 2023): the successor detector's OV score above its threshold.</item>
/// </list>
/// The truth of a type is the heads that carry its task, take part in it and play its role: what an atlas label of
/// that type must find (recall). A label is right when its head takes part in the task and plays the role (precision).
/// Taking part is required of the truth too: a head whose mean share reaches 10% while its interval includes 0 is not
/// shown to carry anything, and a label on it would count as wrong, so it cannot also be one a label must find (the
/// retrained embedded model's L2H3 on IOI: share 0.11, interval [−0.06, 0.28]). A head that carries a task without
/// the role is what formed instead of the textbook circuit, and is reported as such.
/// </summary>
public static class TaskCircuitTruth
{
    /// <summary>A head carries a task when its path moves at least this share of the clean → corrupted change.</summary>
    public const double CarryShare = 0.10;

    /// <summary>The least mean attention from END to the role's source token.</summary>
    public const double RoleAttention = 0.10;

    /// <summary>How many times the attention to its most-attended distractor the attention to the source must be.</summary>
    public const double RoleSelectivity = 1.5;

    /// <summary>A task is learned when the model's top-1 answer is right on this share of the prompts (<see cref="ToyEnglish.TaskAccuracy"/>)...</summary>
    public const double LearnedAccuracy = 0.8;

    /// <summary>... and the clean and corrupted metrics differ by at least this (logit difference; KL for answer sets).</summary>
    public static double MinimumGap(MetricKind metric) => metric == MetricKind.KlDivergence ? 0.5 : 1.0;

    public const int BootstrapResamples = 2000;

    /// <summary>One head type with a path-patching ground truth.</summary>
    /// <param name="Type">The atlas head type (a label's type, e.g. "arithmetic" for the greater_than detector).</param>
    /// <param name="Task">The task set.</param>
    /// <param name="Sign">+1: the head helps the answer; −1: it works against it (negative name movers).</param>
    /// <param name="ToQueries">The path ends in the queries of the heads that carry the task to the logits (S-inhibition), not in the logits.</param>
    /// <param name="Source">The position the role attends to from END; null: the role is the OV circuit (successor).</param>
    /// <param name="Distractors">Positions the role must attend to less; "LETTERS" = the options' letters other than the correct one.</param>
    public sealed record TypeSpec(string Type, string Task, int Sign, bool ToQueries, string? Source, IReadOnlyList<string> Distractors);

    public static IReadOnlyList<TypeSpec> Types { get; } =
    [
        new("name_mover", "ioi", +1, false, "IO", ["S1", "S2"]),
        new("negative_name_mover", "ioi", -1, false, "IO", ["S1", "S2"]),
        new("s_inhibition", "ioi", +1, true, "S2", ["IO"]),
        new("arithmetic", "greater_than", +1, false, "YY", []),
        new("retrieval", "needle", +1, false, "NEEDLE", []),
        new("successor", "successor", +1, false, null, []),
        new("correct_letter", "mcqa", +1, false, "CORRECT", ["LETTERS"]),
        new("letter_mover", "acronym", +1, false, "W3", ["W1", "W2"]),
    ];

    /// <summary>Greater-Than's answer is a set of years: KL to the clean distribution at END sees all of it.</summary>
    public static MetricKind MetricFor(string task) => task == "greater_than" ? MetricKind.KlDivergence : MetricKind.LogitDiff;

    /// <summary>Path patching of every head to one set of receivers on a task: each head's share of the change and its 95% interval.</summary>
    public sealed record PathShares(string Receivers, double[,] Effect, double[,] Low, double[,] High);

    /// <summary>One task set's measurements.</summary>
    public sealed record TaskMeasure(string Task, string Metric, int Pairs, double CleanMetric, double CorruptedMetric, double Accuracy, bool Learned,
        PathShares Logits, PathShares? CarriersQueries, IReadOnlyDictionary<string, (double[,] Source, double[,] Distractors)> Attention);

    /// <summary>One type's ground truth.</summary>
    public sealed record TypeTruth(TypeSpec Spec, bool Learned, string Role,
        IReadOnlyList<(int Layer, int Head)> Carriers, IReadOnlyList<(int Layer, int Head)> Participants,
        IReadOnlyList<(int Layer, int Head)> RoleHeads, IReadOnlyList<(int Layer, int Head)> Truth)
    {
        /// <summary>Heads that carry the task without the role: what formed instead of the textbook head.</summary>
        public IEnumerable<(int Layer, int Head)> CarriersWithoutRole => Carriers.Except(RoleHeads);
    }

    public sealed record Result(int Count, ulong Seed, IReadOnlyList<TaskMeasure> Tasks, IReadOnlyList<TypeTruth> Types);

    /// <summary>
    /// Measures every type's task on <paramref name="count"/> pairs of its task set (seed <paramref name="seed"/>) and
    /// derives the truths; <paramref name="tasks"/> limits it to some tasks (a model whose vocabulary spells only those).
    /// </summary>
    public static Result Compute(Transformer model, ITokenizer tokenizer, int count = 32, ulong seed = 0, IReadOnlyCollection<string>? tasks = null, CancellationToken cancel = default)
    {
        var measures = new List<TaskMeasure>();
        foreach (var group in Types.Where(t => tasks is null || tasks.Contains(t.Task)).GroupBy(t => t.Task))
        {
            cancel.ThrowIfCancellationRequested();
            string task = group.Key;
            var set = TaskSets.Find(task)!.Generate(tokenizer, new TaskSetOptions { Count = count, Seed = seed, ContextLength = model.Config.ContextLength });
            var pairs = set.Tokenize(tokenizer, task, model.Config.ContextLength);
            var metric = MetricFor(task);
            var patching = PathPatching.Create(model, pairs, metric, mlpsOnPath: true);
            var logits = Shares("logits", patching.Sweep(PathReceivers.Logits, cancel), seed);
            double accuracy = ToyEnglish.TaskAccuracy(model, tokenizer, set);
            bool learned = accuracy >= LearnedAccuracy && Math.Abs(patching.CleanMetric - patching.CorruptedMetric) >= MinimumGap(metric);
            PathShares? queries = null;
            if (group.Any(t => t.ToQueries))
            {
                var carriers = Heads(logits.Effect, (l, h, e) => l > 0 && e >= CarryShare);
                if (carriers.Count > 0)
                {
                    string receivers = string.Join(",", carriers.Select(c => $"{c.Layer}.{c.Head}:q"));
                    queries = Shares(receivers, patching.Sweep(PathReceivers.Parse(receivers, model.Config), cancel), seed);
                }
            }
            var sources = group.Where(t => t.Source is not null).Select(t => (Source: t.Source!, t.Distractors)).DistinctBy(s => s.Source).ToList();
            var attention = sources.ToDictionary(s => s.Source, s => AttentionFromEnd(model, set, pairs, s.Source, s.Distractors));
            measures.Add(new TaskMeasure(task, patching.Metric.Name, pairs.Count, patching.CleanMetric, patching.CorruptedMetric, accuracy, learned, logits, queries, attention));
        }
        var types = new List<TypeTruth>();
        foreach (var spec in Types)
        {
            if (measures.FirstOrDefault(t => t.Task == spec.Task) is not { } measure) continue;
            var shares = spec.ToQueries ? measure.CarriersQueries : measure.Logits;
            var carriers = shares is null ? [] : Heads(shares.Effect, (l, h, e) => spec.Sign * e >= CarryShare);
            var participants = shares is null ? [] : Heads(spec.Sign > 0 ? shares.Low : shares.High, (l, h, v) => spec.Sign * v > 0);
            IReadOnlyList<(int, int)> role;
            string roleText;
            if (spec.Source is null)
            {
                var successor = DetectorRunner.Run(DetectorRegistry.Get("successor"), new DetectorContext(model, tokenizer));
                role = Heads(Matrix(successor.Scores), (l, h, v) => v >= successor.Threshold);
                roleText = $"OV circuit maps items to their successors: successor score ≥ {successor.Threshold} (the successor detector)";
            }
            else
            {
                var (toSource, toOthers) = measure.Attention[spec.Source];
                role = Heads(toSource, (l, h, a) => a >= RoleAttention && a >= RoleSelectivity * toOthers[l, h]);
                roleText = $"attends from END to {spec.Source} (mean ≥ {RoleAttention}" +
                    (spec.Distractors.Count > 0 ? $", ≥ {RoleSelectivity}× its most-attended of {string.Join(", ", spec.Distractors)})" : ")");
            }
            bool learned = measure.Learned;
            var truth = learned ? carriers.Intersect(participants).Intersect(role).ToList() : [];
            types.Add(new TypeTruth(spec, learned, roleText, learned ? carriers : [], learned ? participants : [], role, truth));
        }
        return new Result(count, seed, measures, types);
    }

    /// <summary>
    /// Precision (labels on heads that take part in the task and play the role; with no label, 1 only when the truth is
    /// empty) and recall (the truth's heads that are labelled; 1 when the truth is empty) of one type's labels.
    /// </summary>
    public static (double Precision, double Recall) Agreement(TypeTruth truth, IReadOnlyCollection<(int Layer, int Head)> labelled)
    {
        var right = truth.Participants.Intersect(truth.RoleHeads).ToHashSet();
        double precision = labelled.Count == 0 ? (truth.Truth.Count == 0 ? 1 : 0) : (double)labelled.Count(right.Contains) / labelled.Count;
        double recall = truth.Truth.Count == 0 ? 1 : (double)truth.Truth.Count(labelled.Contains) / truth.Truth.Count;
        return (precision, recall);
    }

    /// <summary>The result as JSON (tests/fixtures/embedded/circuits.json): matrices are [layer][head], null where a head cannot send.</summary>
    public static string ToJson(Result result, string modelSha256, string command)
    {
        using var stream = new MemoryStream();
        using (var w = new System.Text.Json.Utf8JsonWriter(stream, new System.Text.Json.JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteNumber("version", 4);
            w.WriteString("model_sha256", modelSha256);
            w.WriteString("command", command);
            w.WriteNumber("pairs", result.Count);
            w.WriteNumber("seed", result.Seed);
            w.WriteStartObject("definition");
            w.WriteNumber("carry_share", CarryShare);
            w.WriteNumber("role_attention", RoleAttention);
            w.WriteNumber("role_selectivity", RoleSelectivity);
            w.WriteNumber("learned_accuracy", LearnedAccuracy);
            w.WriteNumber("bootstrap_resamples", BootstrapResamples);
            w.WriteString("text", "path patching from every head (every other head frozen, the MLPs recomputed on the paths: the IOI paper's definition); " +
                "effect = the path's share of the clean → corrupted change of the metric, low/high its 95% bootstrap interval over the pairs. " +
                "carriers: sign × effect ≥ carry_share; participants: the interval wholly on the type's side of 0; role_heads: the type's mechanism (role); " +
                "truth = carriers that take part, with the role (what a label must find); a label is right on a participant with the role");
            w.WriteEndObject();
            w.WriteStartObject("tasks");
            foreach (var t in result.Tasks)
            {
                w.WriteStartObject(t.Task);
                w.WriteString("metric", t.Metric);
                w.WriteNumber("pairs", t.Pairs);
                w.WriteNumber("clean_metric", t.CleanMetric);
                w.WriteNumber("corrupted_metric", t.CorruptedMetric);
                w.WriteNumber("accuracy", t.Accuracy);
                w.WriteBoolean("learned", t.Learned);
                WriteShares(w, "logits", t.Logits);
                if (t.CarriersQueries is { } q) WriteShares(w, "carriers_queries", q);
                w.WriteStartObject("attention_from_end");
                foreach (var (source, (toSource, toOthers)) in t.Attention)
                {
                    w.WriteStartObject(source);
                    WriteMatrix(w, "to_source", toSource);
                    WriteMatrix(w, "to_distractors", toOthers);
                    w.WriteEndObject();
                }
                w.WriteEndObject();
                w.WriteEndObject();
            }
            w.WriteEndObject();
            w.WriteStartObject("types");
            foreach (var t in result.Types)
            {
                w.WriteStartObject(t.Spec.Type);
                w.WriteString("task", t.Spec.Task);
                w.WriteNumber("sign", t.Spec.Sign);
                w.WriteString("path", t.Spec.ToQueries ? "carriers_queries" : "logits");
                w.WriteBoolean("learned", t.Learned);
                w.WriteString("role", t.Role);
                WriteHeads(w, "carriers", t.Carriers);
                WriteHeads(w, "participants", t.Participants);
                WriteHeads(w, "role_heads", t.RoleHeads);
                WriteHeads(w, "truth", t.Truth);
                WriteHeads(w, "carriers_without_role", [.. t.CarriersWithoutRole]);
                w.WriteEndObject();
            }
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(stream.ToArray()) + "\n";
    }

    /// <summary>"L3H1".</summary>
    public static string Name((int Layer, int Head) head) => $"L{head.Layer}H{head.Head}";

    private static void WriteHeads(System.Text.Json.Utf8JsonWriter w, string name, IReadOnlyList<(int Layer, int Head)> heads)
    {
        w.WriteStartArray(name);
        foreach (var h in heads) w.WriteStringValue(Name(h));
        w.WriteEndArray();
    }

    private static void WriteShares(System.Text.Json.Utf8JsonWriter w, string name, PathShares shares)
    {
        w.WriteStartObject(name);
        w.WriteString("receivers", shares.Receivers);
        WriteMatrix(w, "effect", shares.Effect);
        WriteMatrix(w, "low", shares.Low);
        WriteMatrix(w, "high", shares.High);
        w.WriteEndObject();
    }

    private static void WriteMatrix(System.Text.Json.Utf8JsonWriter w, string name, double[,] m)
    {
        w.WriteStartArray(name);
        for (int l = 0; l < m.GetLength(0); l++)
        {
            w.WriteStartArray();
            for (int h = 0; h < m.GetLength(1); h++)
            {
                if (double.IsNaN(m[l, h])) w.WriteNullValue();
                else w.WriteNumberValue(Math.Round(m[l, h], 6));
            }
            w.WriteEndArray();
        }
        w.WriteEndArray();
    }

    private static List<(int Layer, int Head)> Heads(double[,] values, Func<int, int, double, bool> keep)
    {
        var heads = new List<(int, int)>();
        for (int l = 0; l < values.GetLength(0); l++)
            for (int h = 0; h < values.GetLength(1); h++)
                if (!double.IsNaN(values[l, h]) && keep(l, h, values[l, h])) heads.Add((l, h));
        return heads;
    }

    private static double[,] Matrix(Tensor scores)
    {
        var m = new double[scores.Dim(0), scores.Dim(1)];
        for (int l = 0; l < m.GetLength(0); l++)
            for (int h = 0; h < m.GetLength(1); h++) m[l, h] = scores[l, h];
        return m;
    }

    /// <summary>
    /// Each sender's share of the clean → corrupted change and its 95% percentile-bootstrap interval over the pairs:
    /// pair i contributes (clean_i − patched_i) / (clean − corrupted), whose mean is the share.
    /// </summary>
    private static PathShares Shares(string receivers, PathPatchSweep sweep, ulong seed)
    {
        int L = sweep.Normalized.GetLength(0), H = sweep.Normalized.GetLength(1);
        var effect = new double[L, H];
        var low = new double[L, H];
        var high = new double[L, H];
        double gap = sweep.CleanMetric - sweep.CorruptedMetric;
        var clean = sweep.CleanPerPair!;
        for (int l = 0; l < L; l++)
            for (int h = 0; h < H; h++)
            {
                var patched = sweep.PatchedPerPair![l, h];
                if (patched is null || double.IsNaN(sweep.Normalized[l, h]))
                {
                    effect[l, h] = low[l, h] = high[l, h] = double.NaN;
                    continue;
                }
                effect[l, h] = 1 - sweep.Normalized[l, h];
                int n = patched.Length;
                var share = new double[n];
                for (int i = 0; i < n; i++) share[i] = (clean[i] - patched[i]) / gap;
                var random = new SeededRandom(seed ^ (ulong)(l * H + h + 1) * 0x9E3779B97F4A7C15UL);
                var means = new double[BootstrapResamples];
                for (int b = 0; b < BootstrapResamples; b++)
                {
                    double sum = 0;
                    for (int i = 0; i < n; i++) sum += share[random.NextInt(n)];
                    means[b] = sum / n;
                }
                Array.Sort(means);
                low[l, h] = means[(int)(0.025 * BootstrapResamples)];
                high[l, h] = means[(int)(0.975 * BootstrapResamples) - 1];
            }
        return new PathShares(receivers, effect, low, high);
    }

    /// <summary>Mean attention from END to the source position, and to the most-attended distractor of each prompt.</summary>
    private static (double[,] Source, double[,] Distractors) AttentionFromEnd(Transformer model, PromptPairSet set, TokenizedPairs pairs, string source, IReadOnlyList<string> distractors)
    {
        int L = model.Config.Layers, H = model.Config.Heads, n = pairs.Count;
        var toSource = new double[L, H];
        var toOthers = new double[L, H];
        var (_, cache) = model.RunWithCache(pairs.CleanBatch(), CacheFilter.Where(h => h.Site == ActivationSite.Pattern));
        for (int p = 0; p < n; p++)
        {
            var positions = set.Pairs[p].Positions ?? throw new HeadMinerException($"{set.Task}: pair {p} records no positions");
            int end = positions["END"], at = positions[source];
            var others = distractors.Contains("LETTERS")
                ? positions.Where(kv => kv.Key.Length == 1 && char.IsAsciiLetterUpper(kv.Key[0]) && kv.Value != at).Select(kv => kv.Value).ToArray()
                : [.. distractors.Select(d => positions[d])];
            for (int l = 0; l < L; l++)
            {
                var pattern = cache[ActivationSite.Pattern, l];
                for (int h = 0; h < H; h++)
                {
                    toSource[l, h] += pattern[p, h, end, at] / n;
                    double most = 0;
                    foreach (int o in others) most = Math.Max(most, pattern[p, h, end, o]);
                    toOthers[l, h] += most / n;
                }
            }
        }
        return (toSource, toOthers);
    }
}
