#:project ../src/HeadMiner/HeadMiner.csproj
// Path patching in the IOI circuit (Wang et al. 2022). Step 1: which heads write the answer straight into the logits
// (the name movers)? Step 2: which earlier heads feed them, and through which input — queries (GPT-2 small's
// S-inhibition heads), keys or values? Each path carries the corrupted activation along that path only; effect = the
// share of the clean → corrupted change of the logit difference it carries.
// Usage: dotnet run examples/path_patching.cs [-- OUT.html [MODEL]]   (default: the embedded model)
using HeadMiner.Analysis;
using HeadMiner.Analysis.Patching;
using HeadMiner.Models;
using HeadMiner.Reports;
using HeadMiner.Tasks;

string here = (string)AppContext.GetData("EntryPointFileDirectoryPath")!;
string outPath = Path.GetFullPath(args.Length > 0 ? args[0] : Path.Combine(Path.GetTempPath(), "headminer-examples", "path_patching.html"));
using var loaded = ModelLoader.Load(args.Length > 1 ? args[1] : Path.Combine(here, "..", "models", "embedded"));
var config = loaded.Model.Config;

var pairs = ModelTaskSets.Generate(loaded, "ioi", count: 32, seed: 1).Tokenize(loaded.RequireTokenizer(), "ioi", config.ContextLength);
var patching = PathPatching.Create(loaded.Model, pairs, MetricKind.LogitDiff);
Console.WriteLine($"{pairs.Count} IOI pairs; logit difference clean {patching.CleanMetric:F3}, corrupted {patching.CorruptedMetric:F3}");

// Step 1: every head → logits (its direct effect; every other head and the MLPs frozen at their clean values).
var direct = patching.Sweep(PathReceivers.Logits);
var movers = Ranked(direct).Take(2).ToArray();
Console.WriteLine("direct effect on the logits (name movers first):");
foreach (var r in Ranked(direct).Take(4)) Console.WriteLine($"  L{r.SenderLayer}H{r.SenderHead}  {r.Effect,7:F3}");

// Step 2: every earlier head → the name movers' queries, keys and values in turn.
string moverNames = string.Join(" ", movers.Select(m => $"L{m.SenderLayer}H{m.SenderHead}"));
var inputs = new[] { "q", "k", "v" }.ToDictionary(input => input, input =>
    patching.Sweep(PathReceivers.Parse(string.Join(",", movers.Select(m => $"{m.SenderLayer}.{m.SenderHead}:{input}")), config)));
foreach (var (input, sweep) in inputs)
    Console.WriteLine($"into the name movers' {input}: {string.Join(", ", Ranked(sweep).Take(3).Select(r => $"L{r.SenderLayer}H{r.SenderHead} {r.Effect:F3}"))}");
var (bestInput, bestPath) = inputs.Select(p => (p.Key, Ranked(p.Value).First())).MaxBy(p => p.Item2.Effect);
Console.WriteLine($"name movers: {moverNames}");
Console.WriteLine($"strongest path into them: L{bestPath.SenderLayer}H{bestPath.SenderHead} → {bestInput} ({bestPath.Effect:F3})");

Directory.CreateDirectory(Path.GetDirectoryName(outPath)!);
var report = new HtmlReport("Path patching: the name movers and the heads that feed them")
    .Text($"{pairs.Count} IOI pairs (ABC corruption), logit difference clean {patching.CleanMetric:F3}, corrupted {patching.CorruptedMetric:F3}. Cell = effect: the share of the clean → corrupted change carried by the path from that head (grey: the head cannot reach the receivers).")
    .Heatmap("sender → logits (direct effect)", Effects(direct), "layer", "head", diverging: true);
foreach (var (input, sweep) in inputs) report.Heatmap($"sender → {input} of {moverNames}", Effects(sweep), "layer", "head", diverging: true);
report.Write(outPath);
Console.WriteLine($"wrote {outPath}");

static IEnumerable<PathPatchResult> Ranked(PathPatchSweep sweep) =>
    sweep.Results.Where(r => double.IsFinite(r.Effect)).OrderByDescending(r => r.Effect);

static double[,] Effects(PathPatchSweep sweep)
{
    var effect = new double[sweep.Normalized.GetLength(0), sweep.Normalized.GetLength(1)];
    for (int l = 0; l < effect.GetLength(0); l++)
        for (int h = 0; h < effect.GetLength(1); h++) effect[l, h] = 1 - sweep.Normalized[l, h]; // NaN stays NaN (grey)
    return effect;
}
