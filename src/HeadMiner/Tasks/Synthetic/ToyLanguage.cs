using System.Text;
using HeadMiner.Tensors;

namespace HeadMiner.Tasks.Synthetic;

/// <summary>
/// The synthetic language the embedded default model is trained on. A sequence is &lt;bos&gt; then spans separated
/// by &lt;sep&gt;, each span from one component:
/// <list type="bullet">
/// <item><see cref="SyntheticComponent.Text"/>: the fixed <see cref="WordModel"/> (previous-token heads);</item>
/// <item><see cref="SyntheticComponent.RepeatedSegments"/>: distinct random words, repeated 2–3 times (induction and duplicate-token heads);</item>
/// <item><see cref="SyntheticComponent.MarkovChain"/>: a chain over the m-states with a matrix drawn per span (statistical induction);</item>
/// <item><see cref="SyntheticComponent.Counting"/>: a run through numbers, days, months or letters, plain or with a random word after each item (successor heads).</item>
/// </list>
/// Span kinds are drawn with probability ∝ fraction / mean span length, so each component's long-run share of span
/// tokens is its configured fraction; the last span is cut at the sequence's end.
/// </summary>
public sealed class ToyLanguage : SequenceGenerator
{
    private static readonly SyntheticComponent[] Components =
        [SyntheticComponent.Text, SyntheticComponent.RepeatedSegments, SyntheticComponent.MarkovChain, SyntheticComponent.Counting];

    private readonly double[] _spanKindProbabilities;
    private readonly CountingSequences _counting;

    public ToyLanguageOptions Options { get; }
    public ToyVocabulary Vocabulary { get; }
    public WordModel Words { get; }
    public MarkovChain Markov { get; }

    public ToyLanguage(ToyLanguageOptions? options = null)
    {
        Options = options ?? new ToyLanguageOptions();
        Vocabulary = new ToyVocabulary(Options.WordCount, Options.MarkovStateCount, Options.NumberCount);
        Words = new WordModel(Vocabulary.FirstWord, Vocabulary.WordCount, Options.LanguageSeed, Options.ZipfExponent,
            Options.SuccessorsPerWord, Options.PreferredSuccessorProbability, Options.AnySuccessorProbability);
        Markov = new MarkovChain(Vocabulary.FirstMarkovState, Vocabulary.MarkovStateCount, Options.MarkovConcentration);
        _counting = new CountingSequences(Vocabulary.OrderedLists, bosId: null, Vocabulary.FirstWord, Vocabulary.WordCount, Options.InterleavedCountingProbability);
        foreach (var range in new[] { Options.TextSpanLength, Options.SegmentLength, Options.SegmentRepeats, Options.MarkovSpanLength, Options.CountingSpanLength })
        {
            if (range.Min < 1 || range.Max < range.Min) throw new ArgumentException($"bad length range {range}");
        }
        if (Options.SegmentRepeats.Min < 2) throw new ArgumentException("a repeated segment needs at least 2 copies");
        if (Options.SegmentLength.Max > Vocabulary.WordCount) throw new ArgumentException("segments of distinct words cannot be longer than the word list");

        _spanKindProbabilities = new double[Components.Length];
        double total = 0;
        for (int i = 0; i < Components.Length; i++)
        {
            double fraction = Options.FractionOf(Components[i]);
            if (fraction < 0) throw new ArgumentException($"the {Components[i]} fraction is negative");
            total += _spanKindProbabilities[i] = fraction / Options.MeanSpanLength(Components[i]);
        }
        if (!(total > 0)) throw new ArgumentException("at least one component fraction must be positive");
        for (int i = 0; i < Components.Length; i++) _spanKindProbabilities[i] /= total;
    }

    public int VocabularySize => Vocabulary.Size;

    public override int MinLength => 2;

    public string TokenToString(int id) => Vocabulary.TokenToString(id);

    /// <summary>The component mix after normalisation: each component's configured share of span tokens.</summary>
    public double ConfiguredFraction(SyntheticComponent component)
    {
        double total = 0;
        foreach (var c in Components) total += Options.FractionOf(c);
        return Options.FractionOf(component) / total;
    }

    public override ComponentSpan[] Fill(SeededRandom random, Span<int> tokens, Span<PredictionKind> labels)
    {
        var spans = new List<ComponentSpan>();
        tokens[0] = ToyVocabulary.Bos;
        labels[0] = PredictionKind.Special;
        int position = 1;
        while (position < tokens.Length)
        {
            if (spans.Count > 0)
            {
                tokens[position] = ToyVocabulary.Separator;
                labels[position] = PredictionKind.Special;
                if (++position == tokens.Length) break;
            }
            var component = Components[MarkovChain.SampleIndex(random, _spanKindProbabilities)];
            int length = FillSpan(random, component, tokens[position..], labels[position..]);
            spans.Add(new ComponentSpan(component, position, length));
            position += length;
        }
        return [.. spans];
    }

    /// <summary>
    /// Draws one span of a component chosen by the configured mix into the front of the buffers (cut to fit): how the
    /// toy English (<see cref="ToyEnglish"/>) mixes the toy language's spans with its task prompts.
    /// </summary>
    internal (SyntheticComponent Component, int Length) FillRandomSpan(SeededRandom random, Span<int> tokens, Span<PredictionKind> labels)
    {
        var component = Components[MarkovChain.SampleIndex(random, _spanKindProbabilities)];
        return (component, FillSpan(random, component, tokens, labels));
    }

    /// <summary>Draws one span of <paramref name="component"/> into the front of the buffers (cut to fit); returns its length.</summary>
    private int FillSpan(SeededRandom random, SyntheticComponent component, Span<int> tokens, Span<PredictionKind> labels)
    {
        switch (component)
        {
            case SyntheticComponent.Text:
                {
                    int length = Math.Min(Draw(random, Options.TextSpanLength), tokens.Length);
                    Words.Fill(random, tokens[..length], labels[..length]);
                    return length;
                }
            case SyntheticComponent.RepeatedSegments:
                {
                    int segment = Draw(random, Options.SegmentLength);
                    int length = Math.Min(segment * Draw(random, Options.SegmentRepeats), tokens.Length);
                    RepeatedSegments.FillBlock(random, tokens[..length], labels[..length], segment, Vocabulary.FirstWord, Vocabulary.WordCount, distinctTokens: true);
                    return length;
                }
            case SyntheticComponent.MarkovChain:
                {
                    int length = Math.Min(Draw(random, Options.MarkovSpanLength), tokens.Length);
                    Markov.Walk(random, Markov.DrawTransitionMatrix(random), tokens[..length], labels[..length]);
                    return length;
                }
            default:
                {
                    int length = Math.Min(Draw(random, Options.CountingSpanLength), tokens.Length);
                    _counting.FillRun(random, tokens[..length], labels[..length]);
                    return length;
                }
        }
    }

    private static int Draw(SeededRandom random, LengthRange range) => random.NextInt(range.Min, range.Max + 1);

    /// <summary>A plain-text description of the language: layout, components and their intended heads, and one sample.</summary>
    public string Describe()
    {
        var o = Options;
        var text = new StringBuilder();
        text.AppendLine($"Toy language (language seed {o.LanguageSeed})");
        text.AppendLine(Vocabulary.DescribeLayout());
        text.AppendLine("sequence: <bos> span <sep> span <sep> … (fixed length; the last span is cut)");
        text.AppendLine("components (share of span tokens; span length; heads it is meant to produce):");
        text.AppendLine($"  text       {ConfiguredFraction(SyntheticComponent.Text) * 100,3:F0}%  {o.TextSpanLength.Min}–{o.TextSpanLength.Max} words: Zipf(s={o.ZipfExponent}) unigram, {o.SuccessorsPerWord} successors per word, "
            + $"p={o.PreferredSuccessorProbability} for the one the previous word selects, {o.AnySuccessorProbability} any successor — previous-token heads");
        text.AppendLine($"  repeated   {ConfiguredFraction(SyntheticComponent.RepeatedSegments) * 100,3:F0}%  {o.SegmentLength.Min}–{o.SegmentLength.Max} distinct random words × {o.SegmentRepeats.Min}–{o.SegmentRepeats.Max} copies — induction (K-composing with previous-token) and duplicate-token heads");
        text.AppendLine($"  markov     {ConfiguredFraction(SyntheticComponent.MarkovChain) * 100,3:F0}%  {o.MarkovSpanLength.Min}–{o.MarkovSpanLength.Max} steps over {o.MarkovStateCount} states, rows ~ Dirichlet({o.MarkovConcentration}) per span — statistical induction heads");
        text.AppendLine($"  counting   {ConfiguredFraction(SyntheticComponent.Counting) * 100,3:F0}%  {o.CountingSpanLength.Min}–{o.CountingSpanLength.Max} positions of numbers/days/months/letters, {o.InterleavedCountingProbability * 100:F0}% of runs with a random word after each item — successor heads");
        var sample = Generate(1, 48, 1);
        text.Append("sample: ").AppendLine(Vocabulary.Render(sample.Tokens[0]));
        return text.ToString();
    }
}
