using System.Diagnostics;
using System.Globalization;
using HeadMiner.Analysis.Circuits;
using HeadMiner.Models;
using HeadMiner.Models.Tokenizers;
using HeadMiner.Tasks;
using HeadMiner.Tasks.Sets;

namespace HeadMiner.Analysis.Atlas;

/// <summary>
/// Adds the circuits section (<see cref="AtlasCircuits"/>) to an assembled atlas: one
/// <see cref="SmallestFaithfulCircuit"/> per task set of <see cref="TaskSets.All"/> that the tokenizer can spell (the
/// same prompts for every run: the atlas's seed and prompt vocabulary), the roles of each circuit head read from the
/// atlas's labels. It reads only the model and the assembled report, so a single-process atlas and one assembled from
/// cluster units get the same section, byte for byte (apart from the measured seconds).
/// </summary>
public static class AtlasCircuitRunner
{
    /// <summary>Prompt pairs per task, at most: long prompts (needle in a haystack) get fewer, <see cref="MaxTokens"/> in all.</summary>
    public const int Pairs = 16;

    /// <summary>Tokens per run (pairs × prompt length) the pairs are cut to, keeping at least <see cref="MinPairs"/>: the cost and memory of each forward and backward.</summary>
    public const int MaxTokens = 512;

    public const int MinPairs = 4;

    /// <summary>
    /// EAP-IG keeps a float64 gradient accumulator per receiver over every token row (receivers × d_model × tokens × 8
    /// bytes, and as much again for one step's gradients): on a large model the pairs are cut further to keep that
    /// under this many bytes (still at least <see cref="MinPairs"/> pairs).
    /// </summary>
    public const long GradientBytes = 512L << 20;

    public static AtlasReport Add(AtlasReport report, Transformer model, ITokenizer? tokenizer, AtlasOptions options,
        IProgress<AtlasProgress>? progress = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(report);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Circuits == false || (options.Circuits is null && options.Detectors is not null)) return report;
        var clock = Stopwatch.StartNew();
        var settings = new Dictionary<string, string>
        {
            ["metric"] = "logit_diff",
            ["steps"] = SmallestFaithfulCircuit.DefaultSteps.ToString(CultureInfo.InvariantCulture),
            ["pairs"] = Pairs.ToString(CultureInfo.InvariantCulture),
            ["max_tokens"] = MaxTokens.ToString(CultureInfo.InvariantCulture),
            ["seed"] = options.Detector.Seed.ToString(CultureInfo.InvariantCulture),
            ["target_faithfulness"] = SmallestFaithfulCircuit.DefaultTarget.ToString(CultureInfo.InvariantCulture),
            ["budgets"] = string.Join(",", Faithfulness.DefaultBudgets.Select(b => b.ToString(CultureInfo.InvariantCulture))),
            ["split_qkv"] = "true",
        };
        const string how = "EAP-IG scores every edge of the graph (embedding, heads, MLPs → each head's q, k and v inputs, MLPs, logits) with the logit difference "
            + "(answer − wrong) over the task's clean → corrupted pairs; the circuit is the top-|score| edges at the smallest budget whose faithfulness, "
            + "measured by patching every other edge with its corrupted-run value, is within 1 − target of 1 (else the budget closest to 1 below the whole graph)";
        var section = new AtlasCircuits { Status = "skipped", Method = SmallestFaithfulCircuit.Method, Settings = settings, How = how };
        long parameters = 12L * model.Config.Layers * model.Config.DModel * model.Config.DModel + (long)model.Config.VocabSize * model.Config.DModel;
        if (options.Circuits is null && parameters > AtlasOptions.AutoCircuitsMaxParameters)
            return report with
            {
                Circuits = section with
                {
                    Reason = $"about {parameters / 1e6:0} M parameters: by default circuits are found for models up to {AtlasOptions.AutoCircuitsMaxParameters / 1e6:0} M (EAP-IG's backward passes would dominate the atlas); `atlas --circuits` finds them anyway",
                },
            };
        string? reason = !model.Weights.IsRunnable ? "the checkpoint holds weights only; circuits need forward passes"
            : tokenizer is null ? "no tokenizer: the task sets cannot be built"
            : GraphProblem(model);
        if (reason is not null) return report with { Circuits = section with { Reason = reason } };

        var roles = report.Heads.ToDictionary(h => $"a{h.Layer}.h{h.Head}", h => (IReadOnlyList<string>)[.. h.Labels.Select(l => l.Type).Distinct()]);
        var tasks = new List<AtlasTaskCircuit>();
        int index = report.Detectors.Count - 1;
        foreach (var generator in TaskSets.All)
        {
            cancel.ThrowIfCancellationRequested();
            progress?.Report(new AtlasProgress("circuits", index, report.Detectors.Count, $"circuit of {generator.Name}"));
            // As before each detector: the previous task's autodiff tapes go back to the system, so the section peaks
            // at one task's working set.
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            tasks.Add(Task(model, tokenizer!, options, generator, roles, cancel));
        }
        var inCircuits = tasks.SelectMany(t => t.Nodes).Select(n => n.Name).ToHashSet(StringComparer.Ordinal);
        var unused = report.Heads.Where(h => h.Labels.Count > 0 && !inCircuits.Contains($"a{h.Layer}.h{h.Head}"))
            .Select(h => new AtlasCircuitHead(h.Layer, h.Head, [.. h.Labels.Select(l => l.Type).Distinct()])).ToList();
        return report with
        {
            Circuits = section with { Status = "ran", Tasks = tasks, LabelledNotInAnyCircuit = unused, Seconds = Math.Round(clock.Elapsed.TotalSeconds, 3) },
        };
    }

    private static string? GraphProblem(Transformer model)
    {
        try
        {
            CircuitGraph.Create(model.Config);
            return null;
        }
        catch (HeadMinerException e)
        {
            return e.Message;
        }
    }

    private static AtlasTaskCircuit Task(Transformer model, ITokenizer tokenizer, AtlasOptions options, TaskSetGenerator generator,
        Dictionary<string, IReadOnlyList<string>> roles, CancellationToken cancel)
    {
        var clock = Stopwatch.StartNew();
        using var memory = new Tensors.ResidentMemory.PhasePeak();
        TokenizedPairs pairs;
        try
        {
            pairs = PairsFor(model, tokenizer, options, generator);
        }
        catch (HeadMinerException e)
        {
            return new AtlasTaskCircuit { Task = generator.Name, Status = "skipped", Reason = e.Message };
        }
        FaithfulCircuit found;
        try
        {
            found = SmallestFaithfulCircuit.Find(model, pairs, MetricKind.LogitDiff, cancel: cancel);
        }
        catch (HeadMinerException e)
        {
            return new AtlasTaskCircuit { Task = generator.Name, Status = "failed", Reason = e.Message, Pairs = pairs.Count, Seconds = Math.Round(clock.Elapsed.TotalSeconds, 3) };
        }
        var circuit = found.Circuit;
        var graph = circuit.Graph;
        var nodes = circuit.Nodes
            .Select(name => graph.FindSender(name)!)
            .OrderBy(s => s.Index)
            .Select(s => new AtlasCircuitNode(s.Name, s.Layer, s.Head, s.Kind == SenderKind.Head && roles.TryGetValue(s.Name, out var r) ? r : []))
            .ToList();
        return new AtlasTaskCircuit
        {
            Task = generator.Name,
            Status = "ran",
            Pairs = pairs.Count,
            CleanMetric = Round(found.CleanMetric),
            CorruptedMetric = Round(found.CorruptedMetric),
            GraphEdges = graph.EdgeCount,
            EdgesKept = circuit.EdgeCount,
            Budget = found.Faithfulness.Fraction,
            Fraction = Round((double)circuit.EdgeCount / graph.EdgeCount) ?? 0,
            Faithfulness = Round(found.Faithfulness.Value),
            ReachedTarget = found.ReachedTarget,
            Curve = [.. found.Curve.Points.Select(p => new AtlasCircuitBudget(p.Fraction, p.Edges, Round(p.Value)))],
            Cpr = Round(found.Curve.Cpr),
            Cmd = Round(found.Curve.Cmd),
            Nodes = nodes,
            Edges = [.. circuit.Edges.Select(e => new AtlasCircuitEdge(graph.Senders[graph.Edges[e].Sender].Name, graph.Receivers[graph.Edges[e].Receiver].Name, Round(circuit.Scores[e]) ?? 0))],
            Seconds = Math.Round(clock.Elapsed.TotalSeconds, 3),
            PeakRssMiB = memory.Bytes is long bytes ? Math.Round(bytes / 1048576.0, 1) : null,
        };
    }

    /// <summary>
    /// The prompt pairs the atlas finds <paramref name="generator"/>'s circuit on: the set built with the atlas's seed,
    /// prompt vocabulary and the model's context, cut to <see cref="MaxTokens"/>; a set the tokenizer cannot spell is a
    /// <see cref="HeadMinerException"/> saying why.
    /// </summary>
    public static TokenizedPairs PairsFor(Transformer model, ITokenizer tokenizer, AtlasOptions options, TaskSetGenerator generator)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(generator);
        var set = generator.Generate(tokenizer, new TaskSetOptions
        {
            Count = Pairs,
            Seed = options.Detector.Seed,
            ContextLength = model.Config.ContextLength,
            PromptTokens = options.Detector.PromptTokens,
        });
        return Cut(set.Tokenize(tokenizer, $"task {generator.Name}", model.Config.ContextLength), model.Config);
    }

    /// <summary>The first pairs, as many as fit <see cref="MaxTokens"/> and <see cref="GradientBytes"/> (at least <see cref="MinPairs"/>).</summary>
    private static TokenizedPairs Cut(TokenizedPairs pairs, ModelConfig config)
    {
        long receivers = (long)config.Layers * (config.Heads + 2 * config.KvHeads + 1) + 1;
        long tokens = Math.Min(MaxTokens, GradientBytes / (receivers * config.DModel * 16));
        int keep = (int)Math.Min(pairs.Count, Math.Max(MinPairs, tokens / pairs.Length));
        return keep == pairs.Count ? pairs : new TokenizedPairs(pairs.Clean[..keep], pairs.Corrupted[..keep], pairs.Answers[..keep], pairs.Wrongs[..keep]);
    }

    private static double? Round(double v) => double.IsFinite(v) ? Math.Round(v, 6) : null;
}
