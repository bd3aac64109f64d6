using HeadMiner.Models.Tokenizers;
using HeadMiner.Tensors;

namespace HeadMiner.Tasks.Sets;

/// <summary>
/// A seeded, tokenizer-aware generator of one mechanism-exploration set (docs/TASKS.md), producing the prompt-pair
/// format every intervention command reads. A set that cannot be built for a tokenizer (its words are not single
/// tokens, the context is too short) fails with a <see cref="HeadMinerException"/> that says why.
/// </summary>
public abstract class TaskSetGenerator
{
    /// <summary>The name used on the command line and in the file's "task" field.</summary>
    public abstract string Name { get; }

    /// <summary>One line on what the set probes.</summary>
    public abstract string Description { get; }

    /// <summary>Builds the set, or throws <see cref="HeadMinerException"/> naming the reason it cannot be built.</summary>
    public PromptPairSet Generate(ITokenizer tokenizer, TaskSetOptions options)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Count < 1) throw new HeadMinerException($"{Name}: the count must be at least 1 (got {options.Count})");
        if (options.ContextLength is < 8) throw new HeadMinerException($"{Name}: a context of {options.ContextLength} tokens is too short for any task set");
        return Build(tokenizer, options, new SeededRandom(options.Seed ^ NameSalt()));
    }

    /// <summary>
    /// Whether the set can be built for <paramref name="tokenizer"/> (and context length), with the reason when not:
    /// it tries to build a small set, so the answer is exactly what <see cref="Generate"/> would do.
    /// </summary>
    public (bool Ok, string Reason) CanBuild(ITokenizer tokenizer, int? contextLength = null, IReadOnlySet<int>? promptTokens = null)
    {
        try
        {
            Generate(tokenizer, new TaskSetOptions { Count = 2, ContextLength = contextLength, PromptTokens = promptTokens });
            return (true, "");
        }
        catch (HeadMinerException e)
        {
            return (false, e.Message);
        }
    }

    protected abstract PromptPairSet Build(ITokenizer tokenizer, TaskSetOptions options, SeededRandom random);

    /// <summary>Different sets draw different streams from the same user seed.</summary>
    private ulong NameSalt()
    {
        ulong h = 14695981039346656037UL;
        foreach (char c in Name) h = (h ^ c) * 1099511628211UL;
        return h;
    }
}
