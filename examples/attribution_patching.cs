#:project ../src/HeadMiner/HeadMiner.csproj
// Attribution patching (Nanda 2023; Syed et al. 2023) against exact activation patching on IOI. The estimate of
// patching every head × position and MLP × position costs two forwards and one backward; exact patching costs a
// forward per cell. How well does the linear estimate rank the cells?
// Usage: dotnet run examples/attribution_patching.cs [-- OUT.html [MODEL]]   (default: the embedded model)
using HeadMiner.Analysis;
using HeadMiner.Analysis.Attribution;
using HeadMiner.Analysis.Patching;
using HeadMiner.Models;
using HeadMiner.Reports;
using HeadMiner.Tasks;
using HeadMiner.Tensors;

string here = (string)AppContext.GetData("EntryPointFileDirectoryPath")!;
string outPath = Path.GetFullPath(args.Length > 0 ? args[0] : Path.Combine(Path.GetTempPath(), "headminer-examples", "attribution_patching.html"));
using var loaded = ModelLoader.Load(args.Length > 1 ? args[1] : Path.Combine(here, "..", "models", "embedded"));
var config = loaded.Model.Config;

var pairs = ModelTaskSets.Generate(loaded, "ioi", count: 32, seed: 1).Tokenize(loaded.RequireTokenizer(), "ioi", config.ContextLength);

// The estimate: [layer, head, position] and [layer, position], normalised like patching (1 = restores clean).
var estimate = AttributionPatching.Nodes(loaded.Model, pairs, MetricKind.LogitDiff);
// The exact sweeps of the same cells (denoising, as the estimate).
var heads = ActivationPatching.Sweep(loaded.Model, pairs, PatchTarget.Parse("z:pos"), MetricKind.LogitDiff);
var mlps = ActivationPatching.Sweep(loaded.Model, pairs, PatchTarget.Parse("mlp_out"), MetricKind.LogitDiff);

double rHeads = Pearson.Correlation(estimate.Heads.Span, heads.Normalized.Span);
double rMlp = Pearson.Correlation(estimate.Mlp.Span, mlps.Normalized.Span);
double rAll = Pearson.Correlation([.. estimate.Heads.ToArray(), .. estimate.Mlp.ToArray()], [.. heads.Normalized.ToArray(), .. mlps.Normalized.ToArray()]);
Console.WriteLine($"{pairs.Count} IOI pairs of {pairs.Length} tokens; logit difference clean {estimate.CleanMetric:F3}, corrupted {estimate.CorruptedMetric:F3}");
Console.WriteLine($"cells: {estimate.Heads.Length} head × position, {estimate.Mlp.Length} MLP × position");

// Where they disagree most: the linear estimate misses saturation (attention softmax, LayerNorm, GELU).
int T = pairs.Length;
var exactHeads = heads.Normalized.ToArray();
var worst = Enumerable.Range(0, exactHeads.Length).OrderByDescending(i => Math.Abs(exactHeads[i] - estimate.Heads.Span[i])).Take(3);
foreach (int i in worst)
    Console.WriteLine($"  largest gap: L{i / (config.Heads * T)}H{i / T % config.Heads} position {i % T}: exact {exactHeads[i]:F3}, estimate {estimate.Heads.Span[i]:F3}");
Console.WriteLine($"Pearson r, attribution vs exact: heads × positions {rHeads:F4}, MLPs × positions {rMlp:F4}, all {rAll:F4}");

// Per head, summed over positions, side by side; the MLPs per layer × position.
Directory.CreateDirectory(Path.GetDirectoryName(outPath)!);
new HtmlReport("Attribution patching vs activation patching (IOI)")
    .Text($"{pairs.Count} IOI pairs (ABC corruption), denoising, logit difference. Pearson r of the estimate with exact patching: heads × positions {rHeads:F3}, MLPs × positions {rMlp:F3}, all cells {rAll:F3}.")
    .Heatmap("exact: head (sum over positions)", Sum(heads.Normalized, config.Layers, config.Heads, T), "layer", "head", diverging: true)
    .Heatmap("attribution estimate: head (sum over positions)", Sum(estimate.Heads, config.Layers, config.Heads, T), "layer", "head", diverging: true)
    .Heatmap("exact: MLP output, layer × position", mlps.Normalized, "layer", "position", diverging: true)
    .Heatmap("attribution estimate: MLP output, layer × position", estimate.Mlp, "layer", "position", diverging: true)
    .Write(outPath);
Console.WriteLine($"wrote {outPath}");

static double[,] Sum(Tensor cells, int layers, int headsPerLayer, int positions)
{
    var sum = new double[layers, headsPerLayer];
    for (int l = 0; l < layers; l++)
        for (int h = 0; h < headsPerLayer; h++)
            for (int p = 0; p < positions; p++) sum[l, h] += cells[l, h, p];
    return sum;
}
