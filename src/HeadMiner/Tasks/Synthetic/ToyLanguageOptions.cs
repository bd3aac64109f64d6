namespace HeadMiner.Tasks.Synthetic;

/// <summary>An inclusive range of lengths (or counts) drawn uniformly.</summary>
public readonly record struct LengthRange(int Min, int Max)
{
    public double Mean => (Min + Max) / 2.0;
}

/// <summary>
/// The toy language's knobs. The four fractions are the configured shares of span tokens (separators and BOS
/// excluded) per component; they need not sum to 1 (they are normalised). The language itself — word frequencies,
/// successors — is fixed by <see cref="LanguageSeed"/>; what <c>Generate</c>'s seed changes is only which text is drawn.
/// </summary>
public sealed record ToyLanguageOptions
{
    public ulong LanguageSeed { get; init; } = 20260101;
    public int WordCount { get; init; } = 192;
    public int MarkovStateCount { get; init; } = 8;
    public int NumberCount { get; init; } = 100;

    public double TextFraction { get; init; } = 0.55;
    public double RepeatedSegmentsFraction { get; init; } = 0.20;
    public double MarkovChainFraction { get; init; } = 0.15;
    public double CountingFraction { get; init; } = 0.10;

    public LengthRange TextSpanLength { get; init; } = new(8, 48);
    public LengthRange SegmentLength { get; init; } = new(4, 16);
    public LengthRange SegmentRepeats { get; init; } = new(2, 3);
    public LengthRange MarkovSpanLength { get; init; } = new(24, 64);
    public LengthRange CountingSpanLength { get; init; } = new(4, 16);

    /// <summary>The share of counting runs with a random word after each item (see <see cref="CountingSequences"/> for why).</summary>
    public double InterleavedCountingProbability { get; init; } = 0.5;

    /// <summary>Dirichlet concentration of each Markov transition row (1 = uniform over the simplex).</summary>
    public double MarkovConcentration { get; init; } = 1.0;
    public double ZipfExponent { get; init; } = 1.0;
    public int SuccessorsPerWord { get; init; } = 4;
    public double PreferredSuccessorProbability { get; init; } = 0.5;
    public double AnySuccessorProbability { get; init; } = 0.3;

    public double FractionOf(SyntheticComponent component) => component switch
    {
        SyntheticComponent.Text => TextFraction,
        SyntheticComponent.RepeatedSegments => RepeatedSegmentsFraction,
        SyntheticComponent.MarkovChain => MarkovChainFraction,
        SyntheticComponent.Counting => CountingFraction,
        _ => 0,
    };

    /// <summary>The mean length of one span of <paramref name="component"/> before any cut at the sequence's end.</summary>
    public double MeanSpanLength(SyntheticComponent component) => component switch
    {
        SyntheticComponent.Text => TextSpanLength.Mean,
        SyntheticComponent.RepeatedSegments => SegmentLength.Mean * SegmentRepeats.Mean,
        SyntheticComponent.MarkovChain => MarkovSpanLength.Mean,
        _ => CountingSpanLength.Mean,
    };
}
