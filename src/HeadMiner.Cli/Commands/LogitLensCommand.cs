using System.CommandLine;
using System.Text.Json;
using HeadMiner.Analysis;
using HeadMiner.Hooks;
using HeadMiner.Tasks;

namespace HeadMiner.Cli.Commands;

/// <summary>`headminer logit-lens`: the prediction read off the residual stream before each layer and after the last.</summary>
public static class LogitLensCommand
{
    public static Command Create()
    {
        var model = ModelOptions.Model();
        var allowUnused = ModelOptions.AllowUnused();
        var prompt = new Option<string>("--prompt", "-p") { Description = "Prompt text", Required = true };
        var top = TopOption.Create("Tokens to show per layer", 5, shortAlias: true);
        var target = new Option<string?>("--target") { Description = "A token (its text as it follows the prompt, one token) whose rank and probability to track per layer" };
        var norm = new Option<string>("--norm") { Description = "recomputed (default: the final norm recomputed on each layer's residual, the usual logit lens) or cached (the real run's final-norm scale, as DLA uses)", DefaultValueFactory = _ => "recomputed" };
        norm.AcceptOnlyFromAmong("recomputed", "cached");
        var json = new Option<bool>("--json") { Description = "Print JSON instead of a table" };
        var process = ModelOptions.Process();
        var precision = ModelOptions.Precision();
        var command = new Command("logit-lens", "Unembed the residual stream after each layer: how the next-token prediction forms.") { model, prompt, top, target, norm, json, process, allowUnused, precision };
        command.SetAction(parse =>
        {
            int k = parse.GetValue(top);
            using var loaded = ModelOptions.Load(parse.GetValue(model), parse.GetValue(process), allowUnused: parse.GetValue(allowUnused), notes: parse.InvocationConfiguration.Error);
            var arithmetic = ModelOptions.ApplyPrecision(loaded, parse.GetValue(precision));
            var tokenizer = loaded.RequireTokenizer();
            string text = parse.GetValue(prompt)!;
            var ids = tokenizer.Encode(text);
            if (ids.Length == 0) throw new UsageException("the prompt encodes to no tokens");
            int? targetId = parse.GetValue(target) is { } t
                ? new PromptPairSet { Pairs = [new PromptPair(text, text, t, t)] }.Tokenize(tokenizer, "--target").Answers[0]
                : null;
            var mode = parse.GetValue(norm) == "cached" ? LensNorm.CachedScale : LensNorm.Recomputed;
            var lens = LogitLens.Run(loaded.Model, ids, k, targetId, mode);
            // Broken weights: name the first hook point with NaN instead of printing a lens of NaN.
            if (lens.Layers.Any(l => l.Top.Any(x => !float.IsFinite(x.Prob) || !float.IsFinite(x.Logit))))
                throw FiniteForward.Locate(loaded.Model, ids, "logit-lens");
            string Tok(int id) => id < tokenizer.VocabSize ? tokenizer.TokenToString(id) : $"<{id}>";
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json))
            {
                JsonOutput.Print(output, parse.InvocationConfiguration.Error, new
                {
                    model = loaded.Path,
                    weight_processing = loaded.Model.Processing.ToString(),
                    precision = ModelOptions.PrecisionName(arithmetic),
                    arithmetic = ModelOptions.DescribePrecision(arithmetic),
                    norm = mode == LensNorm.Recomputed ? "recomputed" : "cached_scale",
                    tokens = ids,
                    token_strings = ids.Select(Tok).ToArray(),
                    position = lens.Position,
                    target = targetId is int tid ? new { id = tid, token = Tok(tid) } : null,
                    layers = lens.Layers.Select(l => new
                    {
                        label = l.Label,
                        top = l.Top.Select(x => new { id = x.Id, token = Tok(x.Id), logit = x.Logit, prob = x.Prob }).ToArray(),
                        target_rank = l.TargetRank,
                        target_prob = l.TargetProb,
                        target_logit = l.TargetLogit,
                    }).ToArray(),
                });
                return ExitCodes.Success;
            }
            output.WriteLine($"{ids.Length} tokens: {string.Join(" | ", ids.Select(i => TerminalText.Escape(Tok(i))))}");
            output.WriteLine($"weight processing: {loaded.Model.Processing}; arithmetic: {ModelOptions.DescribePrecision(arithmetic)}; final norm: {(mode == LensNorm.Recomputed ? "recomputed per layer" : "cached scale")}");
            if (targetId is int target0) output.WriteLine($"target: {JsonSerializer.Serialize(Tok(target0), JsonOutput.Options)} (id {target0})");
            foreach (var layer in lens.Layers)
            {
                string tops = string.Join("  ", layer.Top.Select(x => $"{JsonSerializer.Serialize(Tok(x.Id), JsonOutput.Options)} {x.Prob:P1}"));
                string tracked = layer.TargetRank is int rank ? $"  | target rank {rank}, p {layer.TargetProb:P2}" : "";
                output.WriteLine($"{layer.Label,-18} {tops}{tracked}");
            }
            return ExitCodes.Success;
        });
        return command;
    }
}
