using System.CommandLine;
using System.Text.Json;
using HeadMiner.Analysis.Attribution;
using HeadMiner.Hooks;
using HeadMiner.Models;
using HeadMiner.Models.Tokenizers;
using HeadMiner.Tasks;

namespace HeadMiner.Cli.Commands;

/// <summary>`headminer dla`: direct logit attribution per layer component, per head and (optionally) per MLP neuron.</summary>
public static class DlaCommand
{
    public static Command Create()
    {
        var model = ModelOptions.Model();
        var allowUnused = ModelOptions.AllowUnused();
        var pairs = new Option<string?>("--pairs") { Description = "Prompt-pair file (docs/HOOKS.md); the clean prompts are attributed towards answer − wrong" };
        var prompt = new Option<string?>("--prompt", "-p") { Description = "A single prompt (instead of --pairs)" };
        var answer = new Option<string?>("--answer") { Description = "With --prompt: the answer token's text as it follows the prompt (e.g. \" Mary\"); must be one token" };
        var wrong = new Option<string?>("--wrong") { Description = "With --prompt: the wrong token; without it the answer's logit alone is attributed" };
        var process = ModelOptions.Process();
        var neurons = new Option<int>("--neurons") { Description = "Also report the top K MLP neurons per layer by |attribution| (0 = none)", DefaultValueFactory = _ => 0 };
        var outDir = new Option<string>("--out", "-o") { Description = "Directory for dla.json and dla_heads.csv", DefaultValueFactory = _ => "dla" };
        var parquet = TableOptions.Parquet();
        var command = new Command("dla", "Direct logit attribution: what each head, layer and neuron writes towards the answer at the last position.")
        {
            model, pairs, prompt, answer, wrong, process, neurons, outDir, parquet, allowUnused,
        };
        command.SetAction((parse, cancel) =>
        {
            string? pairsPath = parse.GetValue(pairs), text = parse.GetValue(prompt), answerText = parse.GetValue(answer), wrongText = parse.GetValue(wrong);
            int topNeurons = parse.GetValue(neurons);
            if ((pairsPath is null) == (text is null)) throw new UsageException("give either --pairs FILE or --prompt TEXT --answer TOK");
            if (text is not null && answerText is null) throw new UsageException("--prompt needs --answer");
            if (pairsPath is not null && (answerText is not null || wrongText is not null)) throw new UsageException("--answer/--wrong go with --prompt; a pair file has its own");
            if (topNeurons < 0) throw new UsageException($"--neurons {topNeurons} must be 0 or more");
            string dir = OutputFiles.PrepareDirectory(parse.GetValue(outDir)!);
            using var loaded = ModelOptions.Load(parse.GetValue(model), parse.GetValue(process), allowUnused: parse.GetValue(allowUnused), notes: parse.InvocationConfiguration.Error);
            FiniteForward.CheckProbe(loaded.Model, "dla"); // broken weights: one error naming where, before the work
            var tokenizer = loaded.RequireTokenizer();
            TokenizedPairs tokenized = pairsPath is not null
                ? PromptPairSet.Load(pairsPath).Tokenize(tokenizer, pairsPath, loaded.Model.Config.ContextLength)
                : new PromptPairSet { Pairs = [new PromptPair(text!, text!, answerText!, wrongText ?? answerText!)] }.Tokenize(tokenizer, "--prompt", loaded.Model.Config.ContextLength);
            bool hasWrong = pairsPath is not null || wrongText is not null;
            var result = DirectLogitAttribution.Compute(loaded.Model, tokenized.CleanBatch(), tokenized.Answers, hasWrong ? tokenized.Wrongs : null, topNeurons > 0);
            var report = Report(loaded, tokenizer, tokenized, result, topNeurons, pairsPath);

            OutputFiles.WriteJson(Path.Combine(dir, "dla.json"), report, parse.InvocationConfiguration.Error);
            var mean = result.MeanHeads();
            var tables = OutputFiles.WriteTable(Path.Combine(dir, "dla_heads.csv"), ["layer", "head", "attribution"],
                Enumerable.Range(0, result.Layers).SelectMany(l => Enumerable.Range(0, result.HeadsPerLayer).Select(h => (IReadOnlyList<object?>)[l, h, mean[l][h]])), parse.GetValue(parquet));
            Summarize(parse.InvocationConfiguration.Output, loaded, tokenizer, result, topNeurons, hasWrong, dir);
            TableOptions.ReportWritten(parse.InvocationConfiguration.Output, tables);
            return Task.FromResult(ExitCodes.Success);
        });
        return command;
    }

    private static string Tok(ITokenizer tokenizer, int id) => id < tokenizer.VocabSize ? tokenizer.TokenToString(id) : $"<{id}>";

    private static object Report(LoadedModel loaded, ITokenizer tokenizer, TokenizedPairs tokenized, DlaResult result, int topNeurons, string? pairsPath)
    {
        var mean = result.MeanHeads();
        var meanComponents = result.MeanComponents();
        double maxGap = result.Prompts.Max(p => Math.Abs(p.ComponentSum - p.LogitDiff));
        return new
        {
            model = loaded.Path,
            weight_processing = loaded.Model.Processing.ToString(),
            pairs = pairsPath,
            position = "last",
            quantity = result.Prompts[0].Wrong is null ? "logit[answer]" : "logit[answer] - logit[wrong]",
            final_norm = "applied with the scale cached from the real run (ln_final.hook_scale), so every term is linear in its component",
            final_logit_soft_cap = loaded.Model.Config.FinalLogitSoftCap is { } cap
                ? $"{cap}: logit_diff and the components are before the cap (it is not linear); capped_logit_diff is what the model outputs"
                : null,
            sum_check = new
            {
                max_abs_gap = maxGap,
                note = "components + bias_terms vs the real logit difference; with --process (fold_ln) the norm's weight and bias live in W_U/b_U as in TransformerLens",
            },
            component_labels = result.ComponentLabels,
            mean = new
            {
                logit_diff = result.Prompts.Average(p => p.LogitDiff),
                bias_terms = result.Prompts.Average(p => p.BiasTerms),
                components = result.ComponentLabels.Zip(meanComponents).ToDictionary(p => p.First, p => p.Second),
                heads = mean,
                attention_biases = Enumerable.Range(0, result.Layers).Select(l => result.Prompts.Average(p => p.AttentionBiases[l])).ToArray(),
                top_neurons = result.TopNeuronsByMean(topNeurons).Select(layer => layer.Select(n => new { layer = n.Layer, neuron = n.Neuron, attribution = n.Attribution })).ToArray(),
            },
            top_heads = TopHeads(mean, 10).Select(h => new { layer = h.Layer, head = h.Head, attribution = h.Value }).ToArray(),
            prompts = result.Prompts.Select(p => new
            {
                index = p.Index,
                tokens = tokenized.Clean[p.Index],
                token_strings = tokenized.Clean[p.Index].Select(id => Tok(tokenizer, id)).ToArray(),
                answer = new { id = p.Answer, token = Tok(tokenizer, p.Answer) },
                wrong = p.Wrong is int w ? new { id = w, token = Tok(tokenizer, w) } : null,
                logit_diff = p.LogitDiff,
                capped_logit_diff = p.CappedLogitDiff,
                bias_terms = p.BiasTerms,
                component_sum = p.ComponentSum,
                components = result.ComponentLabels.Zip(p.Components).ToDictionary(x => x.First, x => x.Second),
                heads = p.Heads,
                attention_biases = p.AttentionBiases,
                mlp_biases = p.MlpBiases,
                top_neurons = topNeurons > 0
                    ? Enumerable.Range(0, result.Layers).Select(l => p.TopNeurons(l, topNeurons).Select(n => new { layer = n.Layer, neuron = n.Neuron, attribution = n.Attribution })).ToArray()
                    : null,
            }).ToArray(),
        };
    }

    private static (int Layer, int Head, double Value)[] TopHeads(double[][] heads, int k) =>
        [.. heads.SelectMany((row, l) => row.Select((v, h) => (l, h, v))).OrderByDescending(x => Math.Abs(x.v)).ThenBy(x => x.l).ThenBy(x => x.h).Take(k)];

    private static void Summarize(TextWriter output, LoadedModel loaded, ITokenizer tokenizer, DlaResult result, int topNeurons, bool hasWrong, string dir)
    {
        var first = result.Prompts[0];
        string quantity = hasWrong ? $"logit[{JsonSerializer.Serialize(Tok(tokenizer, first.Answer), JsonOutput.Options)}] - logit[{JsonSerializer.Serialize(Tok(tokenizer, first.Wrong!.Value), JsonOutput.Options)}]" : $"logit[{JsonSerializer.Serialize(Tok(tokenizer, first.Answer), JsonOutput.Options)}]";
        output.WriteLine($"model: {loaded.Path}");
        output.WriteLine($"weight processing: {loaded.Model.Processing}");
        output.WriteLine($"{result.Prompts.Count} prompt(s); attributing {quantity}{(result.Prompts.Count > 1 ? " (prompt 0; means below)" : "")} at the last position");
        double actual = result.Prompts.Average(p => p.LogitDiff), sum = result.Prompts.Average(p => p.ComponentSum);
        output.WriteLine($"mean logit difference {actual:F4}; components + bias terms {sum:F4} (bias terms {result.Prompts.Average(p => p.BiasTerms):F4})");
        if (loaded.Model.Config.FinalLogitSoftCap is { } cap)
            output.WriteLine($"  both before the final-logit soft cap {cap} (not linear); after it the model outputs {result.Prompts.Average(p => p.CappedLogitDiff!.Value):F4}");
        output.WriteLine("per layer component:");
        var comps = result.MeanComponents();
        for (int i = 0; i < comps.Length; i++) output.WriteLine($"  {result.ComponentLabels[i],-14} {comps[i],10:F4}");
        output.WriteLine("top heads by |attribution|:");
        foreach (var (l, h, v) in TopHeads(result.MeanHeads(), 10)) output.WriteLine($"  L{l}H{h,-4} {v,10:F4}");
        if (topNeurons > 0)
        {
            output.WriteLine($"top {topNeurons} neurons per layer by |mean attribution|:");
            foreach (var layer in result.TopNeuronsByMean(topNeurons))
                output.WriteLine($"  layer {layer[0].Layer}: {string.Join(", ", layer.Select(n => $"N{n.Neuron} {n.Attribution:F4}"))}");
        }
        output.WriteLine($"wrote {Path.Combine(dir, "dla.json")} and {Path.Combine(dir, "dla_heads.csv")}");
    }
}
