using System.Text.Json;
using HeadMiner.Analysis.Circuits;
using HeadMiner.Cli;
using HeadMiner.Models;
using HeadMiner.Tasks;
using HeadMiner.Tasks.Sets;
using static HeadMiner.Tests.CliRunner;

namespace HeadMiner.Tests.Cli;

/// <summary>
/// `headminer circuit` on the embedded model: circuit.json's fields agree with each other and with the graph,
/// circuit.svg draws every kept edge, and an ACDC run stopped by a signal keeps its state and, run again, resumes to
/// the circuit an uninterrupted run finds.
/// </summary>
public class CircuitCommandTests
{
    private static readonly string Model = Path.Combine(TestPaths.RepoRoot, "models", "embedded");

    [Fact]
    public void EapIgOnAPairsFileWritesACircuitJsonWhoseFieldsAgreeAndAnSvgOfItsEdges()
    {
        using var dir = TestPaths.NewTempDirectory();
        using (var loaded = ModelLoader.Load(Model))
            TaskSets.Find("successor")!.Generate(loaded.RequireTokenizer(), new TaskSetOptions { Count = 7, Seed = 5, ContextLength = loaded.Model.Config.ContextLength })
                .Save(dir.File("pairs.json"));
        var (code, output, err) = Run("circuit", "-m", Model, "--pairs", dir.File("pairs.json"), "--method", "eap-ig", "--steps", "3", "--edges", "23",
            "--metric", "logit_diff", "-o", dir.File("out"));
        Assert.True(code == 0, err);
        Assert.Contains("eap-ig: 23 of 479 edges", output);

        using var json = JsonDocument.Parse(File.ReadAllText(dir.File("out/circuit.json")));
        var root = json.RootElement;
        Assert.Equal(Model, root.GetProperty("model").GetString());
        Assert.Equal(dir.File("pairs.json"), root.GetProperty("pairs").GetString());
        Assert.Equal("eap-ig", root.GetProperty("method").GetString());
        var settings = root.GetProperty("settings");
        Assert.Equal("23", settings.GetProperty("edges").GetString());
        Assert.Equal("3", settings.GetProperty("steps").GetString());
        Assert.Equal("logit_diff", root.GetProperty("metric").GetString());
        var graph = root.GetProperty("graph");
        using var model = ModelLoader.Load(Model);
        var circuitGraph = CircuitGraph.Create(model.Model.Config);
        Assert.Equal(circuitGraph.EdgeCount, graph.GetProperty("edges").GetInt32());
        Assert.Equal(circuitGraph.Senders.Count, graph.GetProperty("senders").GetInt32());
        Assert.Equal(circuitGraph.Receivers.Count, graph.GetProperty("receivers").GetInt32());

        var edges = root.GetProperty("edges").EnumerateArray().ToList();
        Assert.Equal(23, edges.Count);
        foreach (var e in edges)
        {
            Assert.NotNull(circuitGraph.FindEdge($"{e.GetProperty("sender").GetString()}->{e.GetProperty("receiver").GetString()}"));
            Assert.True(double.IsFinite(e.GetProperty("score").GetDouble()));
            Assert.True(double.IsFinite(e.GetProperty("necessity").GetDouble()));
        }
        // A top-23 edge with no attribution at all would mean the scores were never filled in.
        Assert.True(edges.Min(e => Math.Abs(e.GetProperty("score").GetDouble())) > 0, "a kept edge with score 0");
        // Nodes: the senders the edges read, the embedding aside.
        var nodes = edges.Select(e => e.GetProperty("sender").GetString()!).Where(s => s != "embed").Distinct().Order(StringComparer.Ordinal);
        Assert.Equal(nodes, root.GetProperty("nodes").EnumerateArray().Select(n => n.GetString()));

        var faithfulness = root.GetProperty("faithfulness");
        Assert.Equal(23, faithfulness.GetProperty("edges").GetInt32());
        Assert.Equal(23.0 / circuitGraph.EdgeCount, faithfulness.GetProperty("fraction").GetDouble(), 12);
        double clean = root.GetProperty("clean_metric").GetDouble(), corrupted = root.GetProperty("corrupted_metric").GetDouble();
        double alone = faithfulness.GetProperty("metric").GetDouble();
        Assert.Equal((alone - corrupted) / (clean - corrupted), faithfulness.GetProperty("normalized").GetDouble(), 9);
        Assert.True(root.GetProperty("seconds").GetDouble() >= 0);

        string svg = File.ReadAllText(dir.File("out/circuit.svg"));
        Assert.StartsWith("<svg xmlns=\"http://www.w3.org/2000/svg\"", svg);
        Assert.Equal(23, svg.Split("<line ").Length - 1);
        foreach (var e in edges) Assert.Contains($"<title>{e.GetProperty("sender").GetString()}-&gt;{e.GetProperty("receiver").GetString()}: ", svg);
    }

    /// <summary>
    /// --ig-over activations runs EAP-IG over activations (<see cref="EapIgScores.Activations"/>): the kept edges and
    /// their scores are its top edges on the same pairs, not the inputs variant's, and circuit.json records the choice.
    /// </summary>
    [Fact]
    public void EapIgOverActivationsKeepsThatVariantsTopEdgesAndRecordsIt()
    {
        using var dir = TestPaths.NewTempDirectory();
        using var loaded = ModelLoader.Load(Model);
        var tokenizer = loaded.RequireTokenizer();
        TaskSets.Find("ioi")!.Generate(tokenizer, new TaskSetOptions { Count = 5, Seed = 7, ContextLength = loaded.Model.Config.ContextLength })
            .Save(dir.File("pairs.json"));
        var (code, output, err) = Run("circuit", "-m", Model, "--pairs", dir.File("pairs.json"), "--method", "eap-ig", "--ig-over", "activations",
            "--steps", "2", "--edges", "13", "--metric", "logit_diff", "-o", dir.File("out"));
        Assert.True(code == 0, err);
        Assert.Contains("eap-ig: 13 of", output);

        var pairs = PromptPairSet.Load(dir.File("pairs.json")).Tokenize(tokenizer, dir.File("pairs.json"), loaded.Model.Config.ContextLength);
        var graph = CircuitGraph.Create(loaded.Model.Config);
        var activations = EapIgScores.Activations(loaded.Model, pairs, MetricKind.LogitDiff, graph, 2);
        var inputs = EapIgScores.Compute(loaded.Model, pairs, MetricKind.LogitDiff, graph, 2);
        var expected = TopEdges.Select(graph, activations, 13, "eap-ig", new Dictionary<string, string>());

        using var json = JsonDocument.Parse(File.ReadAllText(dir.File("out/circuit.json")));
        var root = json.RootElement;
        Assert.Equal("activations", root.GetProperty("settings").GetProperty("ig_over").GetString());
        Assert.Equal("2", root.GetProperty("settings").GetProperty("steps").GetString());
        var edges = root.GetProperty("edges").EnumerateArray()
            .Select(e => (Edge: graph.FindEdge($"{e.GetProperty("sender").GetString()}->{e.GetProperty("receiver").GetString()}")!.Value, Score: e.GetProperty("score").GetDouble()))
            .ToList();
        Assert.Equal(expected.Edges.Order(), edges.Select(e => e.Edge).Order());
        foreach (var (edge, score) in edges) Assert.Equal(activations[edge], score, 9);
        // The two variants disagree on these pairs, so the file could not have come from the inputs variant.
        Assert.Contains(edges, e => Math.Abs(inputs[e.Edge] - e.Score) > 1e-3 * (1 + Math.Abs(e.Score)));

        // Inputs is the default and is recorded too; the option belongs to eap-ig alone.
        var (plainCode, _, plainErr) = Run("circuit", "-m", Model, "--pairs", dir.File("pairs.json"), "--method", "eap-ig", "--steps", "2", "--edges", "13",
            "--metric", "logit_diff", "-o", dir.File("plain"));
        Assert.True(plainCode == 0, plainErr);
        using (var plain = JsonDocument.Parse(File.ReadAllText(dir.File("plain/circuit.json"))))
            Assert.Equal("inputs", plain.RootElement.GetProperty("settings").GetProperty("ig_over").GetString());
        var (acdcCode, _, acdcErr) = Run("circuit", "-m", Model, "--pairs", dir.File("pairs.json"), "--method", "acdc", "--ig-over", "activations", "-o", dir.File("acdc"));
        Assert.Equal(ExitCodes.Usage, acdcCode);
        Assert.Contains("--ig-over is for --method eap-ig", acdcErr);
        var (badCode, _, badErr) = Run("circuit", "-m", Model, "--pairs", dir.File("pairs.json"), "--method", "eap-ig", "--ig-over", "outputs", "-o", dir.File("bad"));
        Assert.Equal(ExitCodes.Usage, badCode);
        Assert.Contains("--ig-over outputs: use inputs, activations or receivers", badErr);
    }

    /// <summary>
    /// --ig-over receivers runs EAP-IG over receiver inputs (<see cref="EapIgScores.ReceiverInputs"/>): the kept edges
    /// and their scores are its top edges, not the activations variant's, and circuit.json records the choice.
    /// </summary>
    [Fact]
    public void EapIgOverReceiverInputsKeepsThatVariantsTopEdgesAndRecordsIt()
    {
        using var dir = TestPaths.NewTempDirectory();
        using var loaded = ModelLoader.Load(Model);
        var tokenizer = loaded.RequireTokenizer();
        TaskSets.Find("ioi")!.Generate(tokenizer, new TaskSetOptions { Count = 3, Seed = 11, ContextLength = loaded.Model.Config.ContextLength })
            .Save(dir.File("pairs.json"));
        var (code, output, err) = Run("circuit", "-m", Model, "--pairs", dir.File("pairs.json"), "--method", "eap-ig", "--ig-over", "receivers",
            "--steps", "2", "--max-steps", "8", "--edges", "11", "--metric", "logit_diff", "-o", dir.File("out"));
        Assert.True(code == 0, err);
        Assert.Contains("eap-ig: 11 of", output);

        var pairs = PromptPairSet.Load(dir.File("pairs.json")).Tokenize(tokenizer, dir.File("pairs.json"), loaded.Model.Config.ContextLength);
        var graph = CircuitGraph.Create(loaded.Model.Config);
        var receivers = EapIgScores.ReceiverInputs(loaded.Model, pairs, MetricKind.LogitDiff, graph, 2, maxSteps: 8);
        var activations = EapIgScores.Activations(loaded.Model, pairs, MetricKind.LogitDiff, graph, 2);
        var expected = TopEdges.Select(graph, receivers, 11, "eap-ig", new Dictionary<string, string>());

        using var json = JsonDocument.Parse(File.ReadAllText(dir.File("out/circuit.json")));
        var root = json.RootElement;
        Assert.Equal("receivers", root.GetProperty("settings").GetProperty("ig_over").GetString());
        Assert.Equal("8", root.GetProperty("settings").GetProperty("max_steps").GetString());
        var edges = root.GetProperty("edges").EnumerateArray()
            .Select(e => (Edge: graph.FindEdge($"{e.GetProperty("sender").GetString()}->{e.GetProperty("receiver").GetString()}")!.Value, Score: e.GetProperty("score").GetDouble()))
            .ToList();
        Assert.Equal(expected.Edges.Order(), edges.Select(e => e.Edge).Order());
        foreach (var (edge, score) in edges) Assert.Equal(receivers[edge], score, 9);
        Assert.Contains(edges, e => Math.Abs(activations[e.Edge] - e.Score) > 1e-3 * (1 + Math.Abs(e.Score)));
        var (maxCode, _, maxErr) = Run("circuit", "-m", Model, "--pairs", dir.File("pairs.json"), "--method", "eap-ig", "--max-steps", "8", "-o", dir.File("max"));
        Assert.Equal(ExitCodes.Usage, maxCode);
        Assert.Contains("--max-steps is for --method eap-ig --ig-over receivers", maxErr);
    }

    [Fact]
    public void AnAcdcRunStoppedBySigintKeepsItsStateAndResumesToTheUninterruptedCircuit()
    {
        using var dir = TestPaths.NewTempDirectory();
        string[] args = ["circuit", "-m", Model, "--task", "successor", "--count", "16", "--seed", "3", "--method", "acdc", "--tau", "0.05", "--metric", "logit_diff"];
        string stopped = dir.File("stopped"), state = Path.Combine(stopped, "acdc-state.json");
        using (var cli = CliProcess.Start(dir.Path, [.. args, "-o", stopped]))
        {
            // ACDC saves its state after every receiver: stop it once the first is saved.
            var clock = System.Diagnostics.Stopwatch.StartNew();
            while (!File.Exists(state) && clock.Elapsed < TimeSpan.FromMinutes(2)) Thread.Sleep(20);
            Assert.True(File.Exists(state), $"no {state} after 2 minutes; stderr:\n{cli.Stderr}");
            cli.Signal(CliProcess.SIGINT);
            int code = cli.WaitForExit();
            Assert.True(code == ExitCodes.Interrupted, $"exit {code}; stderr:\n{cli.Stderr}");
            Assert.Contains($"interrupted (SIGINT): circuit stopped; ACDC's progress is saved in {state} (run the same command to resume)", cli.Stderr);
            Assert.DoesNotContain("internal error", cli.Stderr);
        }
        Assert.False(File.Exists(Path.Combine(stopped, "circuit.json")));
        Assert.Empty(Directory.GetFiles(stopped, "*.tmp"));
        int visited;
        using (var saved = JsonDocument.Parse(File.ReadAllText(state)))
            visited = saved.RootElement.GetProperty("Visited").GetInt32();
        Assert.InRange(visited, 1, 52);

        var (resumedCode, _, resumedErr) = Run([.. args, "-o", stopped]);
        Assert.True(resumedCode == 0, resumedErr);
        Assert.Contains($"resuming ACDC from {state}: {visited} receivers done", resumedErr);
        Assert.False(File.Exists(state));
        var (freshCode, _, freshErr) = Run([.. args, "-o", dir.File("fresh")]);
        Assert.True(freshCode == 0, freshErr);
        Assert.Equal(Circuit(dir.File("fresh/circuit.json")), Circuit(Path.Combine(stopped, "circuit.json")));
    }

    /// <summary>circuit.json without its clock.</summary>
    private static string Circuit(string path)
    {
        using var json = JsonDocument.Parse(File.ReadAllText(path));
        var root = json.RootElement;
        return string.Join("\n", root.EnumerateObject().Where(p => p.Name is not "seconds").Select(p => $"{p.Name}: {p.Value.GetRawText()}"));
    }
}
