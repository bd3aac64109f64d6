#:project ../src/HeadMiner/HeadMiner.csproj
// Induction heads on repeated random tokens (Olsson et al. 2022): a segment of random tokens followed by its repeat.
// An induction head, at a token of the repeat, attends to the token that followed the same token in the first copy.
// Usage: dotnet run examples/induction.cs [-- OUT.html [MODEL]]   (default: the embedded model)
using HeadMiner.Analysis;
using HeadMiner.Hooks;
using HeadMiner.Models;
using HeadMiner.Reports;
using HeadMiner.Tensors;

string here = (string)AppContext.GetData("EntryPointFileDirectoryPath")!;
string outPath = Path.GetFullPath(args.Length > 0 ? args[0] : Path.Combine(Path.GetTempPath(), "headminer-examples", "induction.html"));
using var loaded = ModelLoader.Load(args.Length > 1 ? args[1] : Path.Combine(here, "..", "models", "embedded"));
var config = loaded.Model.Config;
var tokenizer = loaded.RequireTokenizer();

// 16 prompts: BOS, 20 random tokens, then the same 20 again (drawn from the words the model's headminer.json declares).
var set = ModelTaskSets.Generate(loaded, "repeated_tokens", count: 16, seed: 1);
var pairs = set.Tokenize(tokenizer, "repeated_tokens", config.ContextLength);
int first = set.Pairs[0].Positions!["FIRST"], second = set.Pairs[0].Positions!["SECOND"];
int segment = second - first, T = pairs.Length;

// One batched forward, caching only the attention patterns: [batch, head, query, key] per layer.
var (_, cache) = loaded.Model.RunWithCache(pairs.CleanBatch(), CacheFilter.Where(h => h.Site == ActivationSite.Pattern));

// Induction score: mean attention from each query in the repeat to the key one past its earlier occurrence.
var score = Tensor.Zeros(config.Layers, config.Heads);
for (int l = 0; l < config.Layers; l++)
{
    var pattern = cache[ActivationSite.Pattern, l];
    for (int h = 0; h < config.Heads; h++)
    {
        double sum = 0;
        int n = 0;
        for (int b = 0; b < pairs.Count; b++)
            for (int q = second; q < T; q++, n++) sum += pattern[b, h, q, q - segment + 1];
        score[l, h] = (float)(sum / n);
    }
}

const double Threshold = 0.3; // chance is ~1/T; the atlas's induction detector labels heads above the same 0.3
var ranked = Enumerable.Range(0, config.Layers * config.Heads).OrderByDescending(i => score.Span[i]).ToArray();
var induction = ranked.Where(i => score.Span[i] > Threshold).Select(i => $"L{i / config.Heads}H{i % config.Heads}").ToArray();
int best = ranked[0];
var tokens = pairs.Clean[0].Select(tokenizer.TokenToString).ToArray();
var bestPattern = cache[ActivationSite.Pattern, best / config.Heads].Select(0, 0).Select(0, best % config.Heads);

Directory.CreateDirectory(Path.GetDirectoryName(outPath)!);
new HtmlReport("Induction heads on repeated random tokens")
    .Text($"{pairs.Count} prompts of {T} tokens: a {segment}-token random segment and its repeat. Score = mean attention from a token in the repeat to the token after its first occurrence (1 = a perfect induction head).")
    .Heatmap("induction score", score, "layer", "head")
    .Attention($"L{best / config.Heads}H{best % config.Heads} on prompt 0 (the strongest head)", tokens, bestPattern)
    .Write(outPath);

Console.WriteLine($"{loaded.Path}: {config.Layers} layers × {config.Heads} heads; {pairs.Count} prompts, segment of {segment} tokens");
Console.WriteLine("strongest heads by induction score:");
foreach (int i in ranked.Take(6)) Console.WriteLine($"  L{i / config.Heads}H{i % config.Heads}  {score.Span[i]:F3}");
Console.WriteLine($"induction heads (score > {Threshold}): {string.Join(" ", induction)}");
Console.WriteLine($"wrote {outPath}");
