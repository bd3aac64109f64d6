using System.CommandLine;
using System.Text.Json;
using HeadMiner.Hooks;
using HeadMiner.Tensors.Kernels;

namespace HeadMiner.Cli.Commands;

/// <summary>`headminer logits`: the next-token distribution after a prompt (top-K logits and log-probs).</summary>
public static class LogitsCommand
{
    public static Command Create()
    {
        var model = ModelOptions.Model();
        var allowUnused = ModelOptions.AllowUnused();
        var prompt = new Option<string>("--prompt", "-p") { Description = "Prompt text", Required = true };
        var top = TopOption.Create("How many tokens to show", 10, shortAlias: true);
        var json = new Option<bool>("--json") { Description = "Print JSON (tokens, token strings, top-K logits and log-probs, weight processing)" };
        var process = ModelOptions.Process();
        var compact = ModelOptions.CompactHalf();
        var noBos = new Option<bool>("--no-bos") { Description = "Do not prepend BOS even if the tokenizer does by default" };
        var precision = ModelOptions.Precision();
        var command = new Command("logits", "Show the model's next-token distribution after a prompt.") { model, prompt, top, json, process, noBos, compact, allowUnused, precision };
        command.SetAction(parse =>
        {
            int k = parse.GetValue(top);
            using var loaded = ModelOptions.Load(parse.GetValue(model), parse.GetValue(process), allowUnused: parse.GetValue(allowUnused), notes: parse.InvocationConfiguration.Error);
            var arithmetic = ModelOptions.ApplyPrecision(loaded, parse.GetValue(precision));
            var tokenizer = loaded.RequireTokenizer();
            var ids = tokenizer.Encode(parse.GetValue(prompt)!, parse.GetValue(noBos) ? false : null);
            if (ids.Length == 0) throw new UsageException("the prompt encodes to no tokens");
            var logits = loaded.Model.Forward(ids);
            FiniteForward.Check(loaded.Model, ids, logits, "logits");
            int v = loaded.Model.Config.VocabSize;
            var last = logits.Span.Slice((ids.Length - 1) * v, v).ToArray();
            var logProbs = (float[])last.Clone();
            Softmax.LogRows(logProbs, 1, v);
            var order = Enumerable.Range(0, v).OrderByDescending(i => last[i]).ThenBy(i => i).Take(Math.Min(k, v)).ToArray();
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json))
            {
                var result = new
                {
                    model = loaded.Path,
                    weight_processing = loaded.Model.Processing.ToString(),
                    precision = ModelOptions.PrecisionName(arithmetic),
                    arithmetic = ModelOptions.DescribePrecision(arithmetic),
                    tokens = ids,
                    token_strings = ids.Select(tokenizer.TokenToString).ToArray(),
                    top = order.Select(i => new { id = i, token = i < tokenizer.VocabSize ? tokenizer.TokenToString(i) : $"<{i}>", logit = last[i], log_prob = logProbs[i] }).ToArray(),
                };
                JsonOutput.Print(output, parse.InvocationConfiguration.Error, result);
            }
            else
            {
                output.WriteLine($"{ids.Length} tokens: {string.Join(" | ", ids.Select(i => TerminalText.Escape(tokenizer.TokenToString(i))))}");
                output.WriteLine($"weight processing: {loaded.Model.Processing}; arithmetic: {ModelOptions.DescribePrecision(arithmetic)}");
                output.WriteLine($"{"rank",4}  {"id",6}  {"logit",9}  {"prob",7}  token");
                for (int r = 0; r < order.Length; r++)
                {
                    int i = order[r];
                    string token = i < tokenizer.VocabSize ? tokenizer.TokenToString(i) : $"<{i}>";
                    output.WriteLine($"{r + 1,4}  {i,6}  {last[i],9:F4}  {MathF.Exp(logProbs[i]),7:P2}  {JsonSerializer.Serialize(token, JsonOutput.Options)}");
                }
            }
            return ExitCodes.Success;
        });
        return command;
    }
}
