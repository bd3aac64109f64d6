#:project ../src/HeadMiner/HeadMiner.csproj
// Activation patching of Indirect Object Identification (Wang et al. 2022): run the corrupted prompts (three other
// names), put back one clean activation at a time, and see how much of the clean logit difference it restores.
// Usage: dotnet run examples/ioi_patching.cs [-- OUT.html [MODEL]]   (default: the embedded model)
using HeadMiner.Analysis;
using HeadMiner.Analysis.Patching;
using HeadMiner.Models;
using HeadMiner.Reports;
using HeadMiner.Tasks;

string here = (string)AppContext.GetData("EntryPointFileDirectoryPath")!;
string outPath = Path.GetFullPath(args.Length > 0 ? args[0] : Path.Combine(Path.GetTempPath(), "headminer-examples", "ioi_patching.html"));
using var loaded = ModelLoader.Load(args.Length > 1 ? args[1] : Path.Combine(here, "..", "models", "embedded"));
var config = loaded.Model.Config;
var tokenizer = loaded.RequireTokenizer();

// IOI pairs: "Then, Ben and Mary went to the office. Mary gave a cup to" → " Ben" (clean) vs " Mary" (wrong). Patching
// compares position by position, so keep the pairs whose names sit where pair 0's do (one template and name order).
var all = ModelTaskSets.Generate(loaded, "ioi", count: 128, seed: 1);
var roles = all.Pairs[0].Positions!;
var set = all with { Pairs = [.. all.Pairs.Where(p => roles.All(r => p.Positions![r.Key] == r.Value)).Take(24)] };
var pairs = set.Tokenize(tokenizer, "ioi", config.ContextLength);
Console.WriteLine($"e.g. \"{set.Pairs[0].Clean}\" → \"{set.Pairs[0].Answer}\" (corrupted: \"{set.Pairs[0].Corrupted}\")");

// Two sweeps, each cell normalised so 1 = the clean behaviour is restored and 0 = nothing changes.
var residual = ActivationPatching.Sweep(loaded.Model, pairs, PatchTarget.Parse("resid_pre"), MetricKind.LogitDiff); // [layer, position]
var heads = ActivationPatching.Sweep(loaded.Model, pairs, PatchTarget.Parse("z"), MetricKind.LogitDiff);            // [layer, head]
Console.WriteLine($"logit difference: clean {residual.CleanMetric:F3}, corrupted {residual.CorruptedMetric:F3}");

// Where the name information sits in the residual stream, layer by layer (labels: the roles, else pair 0's tokens).
var positions = pairs.Clean[0].Select((id, t) => roles.FirstOrDefault(r => r.Value == t).Key ?? tokenizer.TokenToString(id)).ToArray();
Console.WriteLine("resid_pre: the position whose patch restores most, per layer");
for (int l = 0; l < config.Layers; l++)
{
    var row = residual.Normalized.Select(0, l).ToArray();
    int best = Array.IndexOf(row, row.Max());
    Console.WriteLine($"  layer {l}: position {positions[best]} ({row[best]:F3})");
}

// Which heads' outputs (hook_z, all positions) carry it.
var z = heads.Normalized.ToArray();
Console.WriteLine("heads by restored share (hook_z):");
foreach (int i in Enumerable.Range(0, z.Length).OrderByDescending(i => Math.Abs(z[i])).Take(5))
    Console.WriteLine($"  L{i / config.Heads}H{i % config.Heads}  {z[i]:F3}");

Directory.CreateDirectory(Path.GetDirectoryName(outPath)!);
new HtmlReport("Activation patching of IOI")
    .Text($"{pairs.Count} IOI pairs ({set.Pairs[0].Clean}) of {pairs.Length} tokens (ABC corruption); denoising, logit difference clean {residual.CleanMetric:F3}, corrupted {residual.CorruptedMetric:F3}. Each cell: (patched − corrupted) / (clean − corrupted).")
    .Heatmap("resid_pre, layer × position", residual.Normalized, "layer", "position", columnLabels: positions, diverging: true)
    .Heatmap("attention head outputs (hook_z), layer × head", heads.Normalized, "layer", "head", diverging: true)
    .Write(outPath);
Console.WriteLine($"wrote {outPath}");
