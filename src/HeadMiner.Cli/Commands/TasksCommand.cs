using System.CommandLine;
using HeadMiner.Models.Tokenizers;
using HeadMiner.Tasks.Sets;

namespace HeadMiner.Cli.Commands;

/// <summary>`headminer tasks list|generate`: the mechanism-exploration sets, written as prompt-pair files for `patch`.</summary>
public static class TasksCommand
{
    public static Command Create()
    {
        var command = new Command("tasks", "Task sets (IOI, Greater-Than, Needle-in-a-Haystack, …) as prompt-pair files.");
        command.Subcommands.Add(List());
        command.Subcommands.Add(Generate());
        return command;
    }

    private static Command List()
    {
        var model = ModelOptions.Model();
        var allowUnused = ModelOptions.AllowUnused();
        var command = new Command("list", "List the task sets; with --model, whether each can be built for its tokenizer and why not.") { model, allowUnused };
        command.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            var path = parse.GetValue(model);
            (ITokenizer Tokenizer, int Context, IReadOnlySet<int>? PromptTokens)? target = path is null ? null : Load(path, parse.GetValue(allowUnused), parse.InvocationConfiguration.Error);
            int width = TaskSets.All.Max(g => g.Name.Length);
            foreach (var g in TaskSets.All)
            {
                output.WriteLine($"{g.Name.PadRight(width)}  {g.Description}");
                if (target is var (tokenizer, context, promptTokens))
                {
                    var (ok, reason) = g.CanBuild(tokenizer, context, promptTokens);
                    output.WriteLine($"{"".PadRight(width)}  {(ok ? "buildable for this model" : "cannot be built: " + reason)}");
                }
            }
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command Generate()
    {
        var name = new Argument<string>("name") { Description = "Task set name (see `headminer tasks list`)" };
        var count = new Option<int>("--count") { Description = "Number of pairs", DefaultValueFactory = _ => 32 };
        var seed = new Option<ulong>("--seed") { Description = "Random seed (same seed and tokenizer → same file)", DefaultValueFactory = _ => 0 };
        var model = ModelOptions.Model();
        var allowUnused = ModelOptions.AllowUnused();
        var output = new Option<string>("--out", "-o") { Description = "Prompt-pair JSON file to write", Required = true };
        var command = new Command("generate", "Generate a task set for a model's tokenizer and write it as a prompt-pair file.") { name, count, seed, model, output, allowUnused };
        command.SetAction(parse =>
        {
            string setName = parse.GetValue(name)!;
            var generator = TaskSets.Find(setName)
                ?? throw new UsageException($"unknown task set \"{setName}\"; known: {string.Join(", ", TaskSets.All.Select(g => g.Name))}");
            int n = parse.GetValue(count);
            if (n < 1 || n > 100_000) throw new UsageException($"--count {n} must be between 1 and 100000");
            string path = OutputFiles.PrepareFile(parse.GetValue(output)!);
            var (tokenizer, context, promptTokens) = Load(parse.GetValue(model), parse.GetValue(allowUnused), parse.InvocationConfiguration.Error);
            var set = generator.Generate(tokenizer, new TaskSetOptions { Count = n, Seed = parse.GetValue(seed), ContextLength = context, PromptTokens = promptTokens });
            set.Save(path);
            var tokens = tokenizer.Encode(set.Pairs[0].Clean).Length;
            parse.InvocationConfiguration.Output.WriteLine($"wrote {set.Pairs.Count} {set.Task} pairs ({tokens} tokens each) to {path}");
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>
    /// The tokenizer, context length and declared prompt vocabulary (headminer.json, as `detect` and `atlas` read it)
    /// of --model (the embedded default when absent); weights are not needed.
    /// </summary>
    private static (ITokenizer Tokenizer, int Context, IReadOnlySet<int>? PromptTokens) Load(string? path, bool allowUnused, TextWriter notes)
    {
        using var loaded = ModelOptions.Load(path, weightsOnly: true, allowUnused: allowUnused, notes: notes);
        var hints = HeadMiner.Analysis.Detectors.AnalysisHints.Load(loaded.Path, loaded.Model.Config.VocabSize);
        return (loaded.RequireTokenizer(), loaded.Model.Config.ContextLength, hints is { PromptTokenRanges.Count: > 0 } ? hints.PromptTokens() : null);
    }
}
