#:project ../src/HeadMiner/HeadMiner.csproj
// The logit lens (nostalgebraist 2020): unembed the residual stream before each layer, as if the model stopped
// there, and watch the answer's rank and probability form layer by layer — here on one prompt of each of four tasks.
// Usage: dotnet run examples/logit_lens.cs [-- OUT.html [MODEL]]   (default: the embedded model)
using HeadMiner.Analysis;
using HeadMiner.Models;
using HeadMiner.Reports;

string here = (string)AppContext.GetData("EntryPointFileDirectoryPath")!;
string outPath = Path.GetFullPath(args.Length > 0 ? args[0] : Path.Combine(Path.GetTempPath(), "headminer-examples", "logit_lens.html"));
using var loaded = ModelLoader.Load(args.Length > 1 ? args[1] : Path.Combine(here, "..", "models", "embedded"));
var tokenizer = loaded.RequireTokenizer();
string Show(int id) => $"\"{tokenizer.TokenToString(id)}\"";

var report = new HtmlReport("Logit lens")
    .Text("Each row unembeds the residual stream at the last position (resid_pre of a layer, then the final resid_post) through the final norm, recomputed on that residual. The last row is the model's own prediction.");
var series = new List<(string Name, double[] X, double?[] Y)>();
foreach (string task in new[] { "ioi", "successor", "greater_than", "yes_no" })
{
    // One prompt of the task set, built for this model's tokenizer; its answer is the token the lens tracks.
    var set = ModelTaskSets.Generate(loaded, task, count: 1, seed: 3);
    var pair = set.Tokenize(tokenizer, task, loaded.Model.Config.ContextLength);
    var lens = LogitLens.Run(loaded.Model, pair.Clean[0], top: 3, target: pair.Answers[0]);

    Console.WriteLine($"{task}: \"{set.Pairs[0].Clean}\" → {Show(pair.Answers[0])}");
    foreach (var layer in lens.Layers)
        Console.WriteLine($"  {layer.Label,-18} answer rank {layer.TargetRank,4}  p {layer.TargetProb,7:P1}   top: {string.Join(" ", layer.Top.Select(t => Show(t.Id)))}");
    var first = lens.Layers.FirstOrDefault(l => l.TargetRank == 1);
    Console.WriteLine($"  {task}: the answer is first top-1 at {first?.Label ?? "no layer"}");

    series.Add((task, [.. lens.Layers.Select((_, i) => (double)i)], [.. lens.Layers.Select(l => (double?)l.TargetProb)]));
    report.Table($"{task}: \"{set.Pairs[0].Clean}\" → {Show(pair.Answers[0])}", ["residual", "answer rank", "answer p", "top 3"],
        lens.Layers.Select(l => (IReadOnlyList<object?>)[l.Label, l.TargetRank, (double?)l.TargetProb, string.Join(" ", l.Top.Select(t => $"{Show(t.Id)} {t.Prob:P0}"))]));
}

Directory.CreateDirectory(Path.GetDirectoryName(outPath)!);
report.LineChart("probability of the answer, layer by layer (0 = the embeddings, last = the model's output)", "residual stream (resid_pre of layer x; last = final)", "p(answer)", series)
    .Write(outPath);
Console.WriteLine($"wrote {outPath}");
