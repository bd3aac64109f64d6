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
}
