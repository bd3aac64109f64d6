namespace HeadMiner.Tasks.Synthetic;

/// <summary>The generators a synthetic sequence is built from; each span of a sequence comes from one.</summary>
public enum SyntheticComponent : byte
{
    /// <summary>Text from the toy language's fixed word model (previous-token heads).</summary>
    Text,

    /// <summary>A random segment repeated two or more times (induction and duplicate-token heads).</summary>
    RepeatedSegments,

    /// <summary>A Markov chain over a few states with a transition matrix drawn per span (statistical induction).</summary>
    MarkovChain,

    /// <summary>A run through an ordered list: numbers, days, months, letters (successor heads).</summary>
    Counting,

    /// <summary>A toy-English task prompt and its answer (<see cref="ToyEnglish"/>); not part of the toy language's mix.</summary>
    Task,
}

/// <summary>Positions [Start, Start + Length) of one sequence came from <see cref="Component"/>.</summary>
public readonly record struct ComponentSpan(SyntheticComponent Component, int Start, int Length)
{
    public int End => Start + Length;
}
