using System.CommandLine;
using HeadMiner.Hooks;
using HeadMiner.Models.Generation;

namespace HeadMiner.Cli.Commands;

/// <summary>`headminer generate`: continue a prompt (greedy by default; temperature/top-k/top-p sampling with a seed).</summary>
public static class GenerateCommand
{
    public static Command Create()
    {
        var model = ModelOptions.Model();
        var allowUnused = ModelOptions.AllowUnused();
        var prompt = new Option<string>("--prompt", "-p") { Description = "Text to continue (empty: start from BOS)", DefaultValueFactory = _ => "" };
        var maxTokens = new Option<int>("--max-tokens", "-n") { Description = "Tokens to generate", DefaultValueFactory = _ => 64 };
        var temperature = new Option<float>("--temperature", "-t") { Description = "0 = greedy", DefaultValueFactory = _ => 0f };
        var topK = new Option<int>("--top-k") { Description = "Sample only from the k most likely tokens (0 = off)" };
        var topP = new Option<float>("--top-p") { Description = "Nucleus sampling threshold (1 = off)", DefaultValueFactory = _ => 1f };
        var seed = new Option<ulong>("--seed") { Description = "Random seed for sampling", DefaultValueFactory = _ => 0UL };
        var process = ModelOptions.Process();
        var compact = ModelOptions.CompactHalf();
        var precision = ModelOptions.Precision();
        var command = new Command("generate", "Generate text from a prompt.") { model, prompt, maxTokens, temperature, topK, topP, seed, process, compact, allowUnused, precision };
        command.SetAction((parse, cancel) =>
        {
            int n = parse.GetValue(maxTokens);
            if (n < 0) throw new UsageException($"--max-tokens {n} must be ≥ 0");
            using var loaded = ModelOptions.Load(parse.GetValue(model), parse.GetValue(process), allowUnused: parse.GetValue(allowUnused), notes: parse.InvocationConfiguration.Error);
            var arithmetic = ModelOptions.ApplyPrecision(loaded, parse.GetValue(precision));
            // stdout stays the text alone; which arithmetic produced it goes to stderr with the other notes.
            parse.InvocationConfiguration.Error.WriteLine($"note: arithmetic: {ModelOptions.DescribePrecision(arithmetic)}");
            var tokenizer = loaded.RequireTokenizer();
            string text = parse.GetValue(prompt) ?? "";
            var ids = new List<int>(tokenizer.Encode(text));
            if (ids.Count == 0)
            {
                int start = tokenizer.BosId ?? loaded.Model.Config.BosTokenId
                    ?? throw new UsageException("the prompt is empty and the model has no BOS token to start from");
                ids.Add(start);
            }
            loaded.Model.CheckLength(ids.Count);
            var sampler = new Sampler(parse.GetValue(temperature), parse.GetValue(topK), parse.GetValue(topP), parse.GetValue(seed));
            var stops = new HashSet<int>();
            if (tokenizer.EosId is int eos) stops.Add(eos);
            var output = parse.InvocationConfiguration.Output;
            // The prompt is echoed with the first token (or at the end), so that a model that fails on its first
            // step prints only the error, not half a line.
            bool echoed = false;
            void Echo()
            {
                if (!echoed) output.Write(TerminalText.EscapeKeepingLines(text));
                echoed = true;
            }
            // Decode the whole continuation each step and print the new suffix, so multi-token characters print whole.
            var generated = new List<int>();
            string shown = "";
            int room = loaded.Model.Config.ContextLength - ids.Count;
            try
            {
                Generator.Generate(loaded.Model, ids, Math.Min(n, room), sampler, stops, checkLogits: (sequence, logits) => FiniteForward.Check(loaded.Model, sequence, logits, "generate"), onToken: token =>
                {
                    Echo();
                    generated.Add(token);
                    string all = StreamingDecode.Continuation(tokenizer, ids, generated);
                    if (all.Length > shown.Length && all.StartsWith(shown, StringComparison.Ordinal) && !all.EndsWith('\uFFFD'))
                    {
                        output.Write(TerminalText.EscapeKeepingLines(all[shown.Length..]));
                        shown = all;
                    }
                }, cancel: cancel);
            }
            catch (OperationCanceledException) when (cancel.IsCancellationRequested)
            {
                output.WriteLine();
                throw new CommandStoppedException($"generate stopped after {generated.Count} tokens");
            }
            Echo();
            string final = StreamingDecode.Continuation(tokenizer, ids, generated);
            if (final.StartsWith(shown, StringComparison.Ordinal)) output.Write(TerminalText.EscapeKeepingLines(final[shown.Length..]));
            output.WriteLine();
            // Fewer tokens than asked is never silent: say how many and why on stderr (stdout stays the text alone).
            var stderr = parse.InvocationConfiguration.Error;
            if (generated.Count < n)
                stderr.WriteLine(generated.Count >= room
                    ? $"generated {generated.Count} of {n} tokens: stopped at the model's context length ({loaded.Model.Config.ContextLength} tokens, of which the prompt is {ids.Count})"
                    : $"generated {generated.Count} of {n} tokens: stopped at the end-of-sequence token");
            return Task.FromResult(ExitCodes.Success);
        });
        return command;
    }
}

/// <summary>Text of generated tokens as they read after the prompt (decoding prompt+continuation keeps SentencePiece spacing right).</summary>
internal static class StreamingDecode
{
    public static string Continuation(Models.Tokenizers.ITokenizer tokenizer, IReadOnlyList<int> prompt, IReadOnlyList<int> generated)
    {
        string before = tokenizer.Decode(prompt.ToArray());
        string all = tokenizer.Decode(prompt.Concat(generated).ToArray());
        return all.StartsWith(before, StringComparison.Ordinal) ? all[before.Length..] : tokenizer.Decode(generated.ToArray());
    }
}
