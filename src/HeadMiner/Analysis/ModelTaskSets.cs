using HeadMiner.Analysis.Detectors;
using HeadMiner.Models;
using HeadMiner.Tasks;
using HeadMiner.Tasks.Sets;

namespace HeadMiner.Analysis;

/// <summary>
/// A task set built for a loaded model as `headminer tasks generate` builds it: the model's tokenizer, its context
/// length and the prompt vocabulary its headminer.json declares (the embedded model's random-token prompts use only
/// the words it was trained to repeat). One call for scripts and the library's users.
/// </summary>
public static class ModelTaskSets
{
    /// <summary>The options `tasks generate` passes for <paramref name="loaded"/>.</summary>
    public static TaskSetOptions Options(LoadedModel loaded, int count, ulong seed = 0)
    {
        var hints = AnalysisHints.Load(loaded.Path, loaded.Model.Config.VocabSize);
        return new TaskSetOptions
        {
            Count = count,
            Seed = seed,
            ContextLength = loaded.Model.Config.ContextLength,
            PromptTokens = hints is { PromptTokenRanges.Count: > 0 } ? hints.PromptTokens() : null,
        };
    }

    /// <summary>
    /// Generates task set <paramref name="task"/> (a name of <see cref="TaskSets"/>, e.g. "ioi") for
    /// <paramref name="loaded"/>; an unknown name or a set the tokenizer cannot spell is a <see cref="HeadMinerException"/>.
    /// </summary>
    public static PromptPairSet Generate(LoadedModel loaded, string task, int count, ulong seed = 0)
    {
        var generator = TaskSets.Find(task)
            ?? throw new HeadMinerException($"unknown task set \"{task}\"; known: {string.Join(", ", TaskSets.All.Select(g => g.Name))}");
        return generator.Generate(loaded.RequireTokenizer(), Options(loaded, count, seed));
    }
}
