using HeadMiner.Analysis.Atlas;
using HeadMiner.Analysis.Circuits;
using HeadMiner.Analysis.Detectors;
using HeadMiner.Models;
using HeadMiner.Reports;
using HeadMiner.Tasks;
using HeadMiner.Tasks.Sets;

namespace HeadMiner.Tests.Analysis.Atlas;

/// <summary>
/// The atlas's circuits section on the embedded model: a circuit for every task set its vocabulary can spell, whose
/// nodes, edges, roles and faithfulness are checked against the graph, the labels and a patching run of our own;
/// and the same section twice from the same atlas.
/// </summary>
public class AtlasCircuitsTests
{
    private const double Rounding = 5e-7;

    private const string Detectors = "previous_token,duplicate_token,induction,attention_sink,successor";

    private static readonly Lazy<(LoadedModel Loaded, AtlasOptions Options, AtlasReport Atlas)> Embedded = new(() =>
    {
        var loaded = ModelLoader.Load(Path.Combine(TestPaths.RepoRoot, "models", "embedded"));
        var options = new AtlasOptions { Detectors = Detectors, Circuits = true, Detector = new DetectorOptions { Prompts = 16, MaxPrompts = 16, Seed = 3 }, RandomDraws = 3, RandomHeads = 5 }.ForModel(loaded);
        var outcomes = AtlasRunner.RunDetectors(loaded.Model, loaded.Tokenizer, options, [.. DetectorRegistry.Parse(Detectors).Select(d => d.Id)]);
        var atlas = AtlasCircuitRunner.Add(AtlasRunner.Assemble(loaded.Model, AtlasModel.Of(loaded), options, outcomes), loaded.Model, loaded.Tokenizer, options);
        return (loaded, options, atlas);
    });

    [Fact]
    public void EveryTaskTheVocabularyCanSpellHasACircuitConsistentWithTheGraphAndTheLabels()
    {
        var (loaded, options, atlas) = Embedded.Value;
        var circuits = atlas.Circuits!;
        Assert.Equal("ran", circuits.Status);
        Assert.Equal("eap-ig", circuits.Method);
        Assert.Equal("logit_diff", circuits.Settings["metric"]);
        Assert.Equal(TaskSets.All.Select(t => t.Name), circuits.Tasks.Select(t => t.Task));
        var graph = CircuitGraph.Create(loaded.Model.Config);
        var labels = atlas.Heads.ToDictionary(h => $"a{h.Layer}.h{h.Head}", h => h.Labels.Select(l => l.Type).Distinct().ToList());
        Assert.Contains(labels.Values, l => l.Count > 0);
        foreach (var task in circuits.Tasks)
        {
            var generator = TaskSets.Find(task.Task)!;
            var (canBuild, why) = generator.CanBuild(loaded.RequireTokenizer(), loaded.Model.Config.ContextLength, options.Detector.PromptTokens);
            if (!canBuild)
            {
                Assert.Equal("skipped", task.Status);
                Assert.Equal(why.Split(':')[0], task.Reason!.Split(':')[0]);
                continue;
            }
            // The embedded model is trained on every task set its toy vocabulary spells (docs/EMBEDDED-MODEL.md).
            Assert.True(task.Status == "ran", $"{task.Task}: {task.Status}: {task.Reason}");
            Assert.Equal(graph.EdgeCount, task.GraphEdges);
            Assert.Equal(task.EdgesKept, task.Edges.Count);
            Assert.Equal((double)task.EdgesKept / graph.EdgeCount, task.Fraction, Rounding);
            var kept = new bool[graph.EdgeCount];
            foreach (var e in task.Edges)
            {
                int index = graph.FindEdge($"{e.Sender}->{e.Receiver}") ?? throw new Xunit.Sdk.XunitException($"{task.Task}: {e.Sender}->{e.Receiver} is not an edge of the graph");
                Assert.False(kept[index], $"{task.Task}: {e.Sender}->{e.Receiver} twice");
                kept[index] = true;
            }
            // Its nodes are exactly the senders its edges read (the embedding aside), in graph order.
            var senders = task.Edges.Select(e => e.Sender).Where(s => s != "embed").Distinct().OrderBy(s => graph.FindSender(s)!.Index).ToList();
            Assert.Equal(senders, task.Nodes.Select(n => n.Name));
            foreach (var node in task.Nodes)
            {
                var sender = graph.FindSender(node.Name)!;
                Assert.Equal((sender.Layer, sender.Head), (node.Layer, node.Head));
                Assert.Equal(sender.Kind == SenderKind.Head ? labels[node.Name] : [], node.Roles);
            }
            // Faithfulness is a patching run's: ours, with every edge outside the circuit corrupted, gives the same number.
            var pairs = AtlasCircuitRunner.PairsFor(loaded.Model, loaded.RequireTokenizer(), options, generator);
            Assert.Equal(pairs.Count, task.Pairs);
            var patcher = EdgePatcher.Create(loaded.Model, pairs, MetricKind.LogitDiff, graph);
            double alone = Metric.Normalize(patcher.Evaluate([.. kept.Select(k => !k)]), patcher.CleanMetric, patcher.CorruptedMetric);
            // atlas.json rounds to 6 decimals: within half a unit of the last.
            Assert.Equal(alone, task.Faithfulness!.Value, Rounding);
            Assert.Equal(patcher.CleanMetric, task.CleanMetric!.Value, Rounding);
            Assert.Equal(patcher.CorruptedMetric, task.CorruptedMetric!.Value, Rounding);
            // The chosen budget is the first on the curve within 0.2 of faithfulness 1 (the whole graph, 1, ends the curve).
            Assert.Equal(1.0, task.Curve[^1].Faithfulness!.Value, 9);
            var first = task.Curve.SkipLast(1).FirstOrDefault(p => Math.Abs(1 - p.Faithfulness!.Value) <= 1 - SmallestFaithfulCircuit.DefaultTarget);
            Assert.Equal(first is not null, task.ReachedTarget);
            // Not reached: the budget closest to 1 was kept.
            if (first is null) Assert.Equal(task.Curve.SkipLast(1).Min(p => Math.Abs(1 - p.Faithfulness!.Value)), Math.Abs(1 - task.Faithfulness.Value), Rounding);
            if (first is not null)
            {
                Assert.Equal(first.Edges, task.EdgesKept);
                Assert.Equal(first.Fraction, task.Budget);
                Assert.InRange(task.Faithfulness.Value, SmallestFaithfulCircuit.DefaultTarget, 2 - SmallestFaithfulCircuit.DefaultTarget);
            }
        }
        Assert.Contains(circuits.Tasks, t => t.Status == "ran");

        // The labelled heads in no circuit: every labelled head that is no task's node, and only those.
        var inCircuits = circuits.Tasks.SelectMany(t => t.Nodes).Select(n => n.Name).ToHashSet();
        var expected = atlas.Heads.Where(h => h.Labels.Count > 0 && !inCircuits.Contains($"a{h.Layer}.h{h.Head}")).Select(h => (h.Layer, h.Head));
        Assert.Equal(expected, circuits.LabelledNotInAnyCircuit.Select(h => (h.Layer, h.Head)));
        foreach (var h in circuits.LabelledNotInAnyCircuit) Assert.Equal(labels[$"a{h.Layer}.h{h.Head}"], h.Labels);
    }

    [Fact]
    public void TheSectionIsTheSameOnEveryRunAndAtlasHtmlDrawsEachCircuit()
    {
        var (loaded, options, atlas) = Embedded.Value;
        var again = AtlasCircuitRunner.Add(atlas with { Circuits = null }, loaded.Model, loaded.Tokenizer, options);
        Assert.Equal(AtlasClock.Fixed(atlas).ToJson(), AtlasClock.Fixed(again).ToJson());
        Assert.Contains("\"labelled_not_in_any_circuit\": [", atlas.ToJson());

        // Each task's circuit is a figure of the report, its nodes drawn filled.
        var figures = AtlasHtml.Build(atlas).Sections.Where(s => (string?)s["kind"] == "svg").ToDictionary(s => (string)s["title"]!, s => (string)s["svg"]!);
        var ran = atlas.Circuits!.Tasks.Where(t => t.Status == "ran").ToList();
        Assert.Equal(ran.Select(t => $"Circuit of {t.Task}"), figures.Keys);
        foreach (var t in ran)
            foreach (var n in t.Nodes)
                Assert.Contains($"data-node=\"{n.Name}\"><title>{n.Name}{(n.Roles.Count > 0 ? ": " + string.Join(", ", n.Roles) : "")}</title><circle cx=", figures[$"Circuit of {t.Task}"]);
    }

    [Fact]
    public void WithoutATokenizerOrWhenTurnedOffThereIsNoCircuitAndTheAtlasSaysWhy()
    {
        var (loaded, options, atlas) = Embedded.Value;
        var bare = atlas with { Circuits = null };
        var skipped = AtlasCircuitRunner.Add(bare, loaded.Model, null, options).Circuits!;
        Assert.Equal("skipped", skipped.Status);
        Assert.Contains("tokenizer", skipped.Reason);
        Assert.Empty(skipped.Tasks);
        Assert.Null(AtlasCircuitRunner.Add(bare, loaded.Model, loaded.Tokenizer, options with { Circuits = false }).Circuits);
        // Left to decide (null), a detector subset asks for those detectors only: no circuits.
        Assert.Null(AtlasCircuitRunner.Add(bare, loaded.Model, loaded.Tokenizer, options with { Circuits = null }).Circuits);
        // An atlas without the section (an older atlas.json) reads back with none.
        Assert.Null(AtlasReport.Parse(bare.ToJson()).Circuits);
    }
}
