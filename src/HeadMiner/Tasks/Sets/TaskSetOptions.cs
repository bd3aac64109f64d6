namespace HeadMiner.Tasks.Sets;

/// <summary>
/// What every task-set generator takes: how many pairs, the seed (same seed and tokenizer → same set), and the
/// model's context length when known (sets whose prompts grow, such as Needle-in-a-Haystack, stay within it).
/// </summary>
public sealed record TaskSetOptions
{
    public int Count { get; init; } = 32;
    public ulong Seed { get; init; }
    public int? ContextLength { get; init; }

    /// <summary>
    /// Ids that random-token sets (repeated tokens) draw from, e.g. the prompt vocabulary a model declares in its
    /// headminer.json; null: the tokenizer's own whole-word tokens. The detectors' random prompts honour the same file.
    /// </summary>
    public IReadOnlySet<int>? PromptTokens { get; init; }
}
