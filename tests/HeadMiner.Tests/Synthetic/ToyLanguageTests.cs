using HeadMiner.Tasks.Synthetic;

namespace HeadMiner.Tests.Synthetic;

public class ToyLanguageTests
{
    private static readonly ToyLanguage Language = new();

    /// <summary>Counting spans seen plain [0] and interleaved [1] by <see cref="CheckSpan"/>.</summary>
    private readonly int[] _countingRuns = new int[2];

    [Fact]
    public void VocabularyLayoutIsContiguousAndEveryIdHasOneName()
    {
        var v = Language.Vocabulary;
        Assert.Equal(349, v.Size);
        Assert.Equal(v.Size, Language.VocabularySize);
        Assert.Equal(4, v.FirstWord);
        Assert.Equal(v.FirstWord + v.WordCount, v.FirstMarkovState);
        Assert.Equal(v.FirstMarkovState + v.MarkovStateCount, v.Numbers.FirstId);
        Assert.Equal(v.Numbers.FirstId + 100, v.Days.FirstId);
        Assert.Equal(v.Size, v.Letters.FirstId + 26);
        var names = Enumerable.Range(0, v.Size).Select(Language.TokenToString).ToArray();
        Assert.Equal(v.Size, names.Distinct().Count());
        Assert.Equal(["<bos>", "<eos>", "<sep>", "<pad>", "w0"], names[..5]);
        Assert.Equal("w17", Language.TokenToString(v.FirstWord + 17));
        Assert.Equal("m3", Language.TokenToString(v.FirstMarkovState + 3));
        Assert.Equal("n5", Language.TokenToString(v.Numbers.FirstId + 5));
        Assert.Equal("Sun", Language.TokenToString(v.Days.FirstId + 6));
        Assert.Equal("Dec", Language.TokenToString(v.Months.FirstId + 11));
        Assert.Equal("Z", Language.TokenToString(v.Size - 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => Language.TokenToString(v.Size));
        Assert.Throws<ArgumentOutOfRangeException>(() => Language.TokenToString(-1));
    }

    [Fact]
    public void SameSeedSameTextOtherSeedOrLanguageOther()
    {
        var a = Language.Generate(16, 128, seed: 1);
        Assert.Equal(a.Tokens, new ToyLanguage().Generate(16, 128, seed: 1).Tokens);
        Assert.Equal(a.Labels, Language.Generate(16, 128, seed: 1).Labels);
        Assert.NotEqual(a.Tokens, Language.Generate(16, 128, seed: 2).Tokens);
        var other = new ToyLanguage(new ToyLanguageOptions { LanguageSeed = 99 });
        int w = Language.Vocabulary.FirstWord;
        Assert.NotEqual(Language.Words.Successors(w), other.Words.Successors(w));
    }

    [Fact]
    public void SequencesAreBosThenSpansSeparatedBySeparatorsEachWithItsOwnStructure()
    {
        var data = Language.Generate(200, 256, seed: 3);
        var v = Language.Vocabulary;
        for (int s = 0; s < data.Count; s++)
        {
            var tokens = data.Tokens[s];
            var labels = data.Labels[s];
            var spans = data.Spans[s];
            Assert.Equal(ToyVocabulary.Bos, tokens[0]);
            Assert.All(tokens, t => Assert.InRange(t, 0, v.Size - 1));
            Assert.DoesNotContain(ToyVocabulary.Eos, tokens);
            Assert.DoesNotContain(ToyVocabulary.Pad, tokens);
            Assert.Equal(1, spans[0].Start);
            for (int k = 1; k < spans.Length; k++)
            {
                Assert.Equal(spans[k - 1].End + 1, spans[k].Start);
                Assert.Equal(ToyVocabulary.Separator, tokens[spans[k - 1].End]);
            }
            Assert.InRange(tokens.Length - spans[^1].End, 0, 1); // cut at the end, or a final separator
            int covered = spans.Sum(x => x.Length);
            Assert.Equal(tokens.Length - covered, labels.Count(l => l == PredictionKind.Special));
            Assert.Equal(tokens.Length - covered, tokens.Count(t => t is ToyVocabulary.Bos or ToyVocabulary.Separator));
            foreach (var span in spans) CheckSpan(tokens[span.Start..span.End], labels[span.Start..span.End], span.Component, span.End == tokens.Length);
        }
        // About half the counting runs are interleaved (InterleavedCountingProbability = 0.5).
        double share = _countingRuns[1] / (double)(_countingRuns[0] + _countingRuns[1]);
        Assert.InRange(share, 0.4, 0.6);
    }

    private void CheckSpan(int[] tokens, PredictionKind[] labels, SyntheticComponent component, bool cut)
    {
        var v = Language.Vocabulary;
        var o = Language.Options;
        Assert.Equal(PredictionKind.Random, labels[0]);
        switch (component)
        {
            case SyntheticComponent.Text:
                Assert.All(tokens, t => Assert.True(v.IsWord(t)));
                Assert.All(labels[1..], l => Assert.Equal(PredictionKind.Text, l));
                if (!cut) Assert.InRange(tokens.Length, o.TextSpanLength.Min, o.TextSpanLength.Max);
                break;
            case SyntheticComponent.RepeatedSegments:
                Assert.All(tokens, t => Assert.True(v.IsWord(t)));
                int firstInduction = Array.IndexOf(labels, PredictionKind.Induction);
                if (firstInduction < 0)
                {
                    Assert.True(cut, "an uncut repeated block has induction positions");
                    break;
                }
                int segment = firstInduction - 1;
                Assert.InRange(segment, o.SegmentLength.Min, o.SegmentLength.Max);
                Assert.Equal(segment, tokens[..segment].Distinct().Count());
                for (int i = segment; i < tokens.Length; i++) Assert.Equal(tokens[i - segment], tokens[i]);
                Assert.All(labels[1..firstInduction], l => Assert.Equal(PredictionKind.Random, l));
                Assert.All(labels[firstInduction..], l => Assert.Equal(PredictionKind.Induction, l));
                if (!cut) Assert.Contains(tokens.Length / segment, new[] { 2, 3 });
                break;
            case SyntheticComponent.MarkovChain:
                Assert.All(tokens, t => Assert.True(v.IsMarkovState(t)));
                Assert.All(labels[1..], l => Assert.Equal(PredictionKind.Markov, l));
                if (!cut) Assert.InRange(tokens.Length, o.MarkovSpanLength.Min, o.MarkovSpanLength.Max);
                break;
            default:
                var list = v.OrderedLists.Single(l => l.Contains(tokens[0]));
                // Plain runs count at every position; interleaved ones put a random word after each item.
                int stride = tokens.Length > 1 && v.IsWord(tokens[1]) ? 2 : 1;
                for (int i = 1; i < tokens.Length; i++)
                {
                    if (i % stride != 0)
                    {
                        Assert.True(v.IsWord(tokens[i]));
                        Assert.Equal(PredictionKind.Random, labels[i]);
                    }
                    else if (labels[i] == PredictionKind.Successor) Assert.Equal(list.Successor(tokens[i - stride]), tokens[i]);
                    else Assert.Fail($"a counting span of at most {o.CountingSpanLength.Max} positions never restarts");
                }
                _countingRuns[stride - 1]++;
                if (!cut) Assert.InRange(tokens.Length, o.CountingSpanLength.Min, o.CountingSpanLength.Max);
                break;
        }
    }

    [Theory]
    [InlineData(0.55, 0.20, 0.15, 0.10)]
    [InlineData(0.10, 0.40, 0.00, 0.50)]
    public void EachComponentTakesItsConfiguredShareOfTokens(double text, double repeated, double markov, double counting)
    {
        var language = new ToyLanguage(new ToyLanguageOptions
        {
            TextFraction = text,
            RepeatedSegmentsFraction = repeated,
            MarkovChainFraction = markov,
            CountingFraction = counting,
        });
        var data = language.Generate(400, 512, seed: 5);
        foreach (var component in Enum.GetValues<SyntheticComponent>())
        {
            double configured = language.ConfiguredFraction(component);
            Assert.InRange(data.ComponentFraction(component), configured - 0.02, configured + 0.02);
        }
        if (markov == 0) Assert.Equal(0, data.Fraction(PredictionKind.Markov));
    }

    [Fact]
    public void WordModelNextWordFrequenciesMatchItsProbabilities()
    {
        var textOnly = new ToyLanguage(new ToyLanguageOptions { TextFraction = 1, RepeatedSegmentsFraction = 0, MarkovChainFraction = 0, CountingFraction = 0 });
        var words = textOnly.Words;
        var data = textOnly.Generate(2000, 256, seed: 6);
        // Transitions inside text spans, with the word before (null at a span's start, as the model samples them).
        var byPair = new Dictionary<(int?, int), List<int>>();
        var byWord = new Dictionary<int, List<int>>();
        foreach (var (tokens, spans) in data.Tokens.Zip(data.Spans))
        {
            foreach (var span in spans)
            {
                for (int i = span.Start + 1; i < span.End; i++)
                {
                    int? previous = i - 2 >= span.Start ? tokens[i - 2] : null;
                    Add(byPair, (previous, tokens[i - 1]), tokens[i]);
                    Add(byWord, tokens[i - 1], tokens[i]);
                }
            }
        }

        // P(next = preferred successor | previous, current): binomial residuals over every pair seen often enough.
        double sumSquares = 0;
        int pairs = 0;
        foreach (var ((previous, current), nexts) in byPair)
        {
            if (nexts.Count < 40) continue;
            int preferred = words.PreferredSuccessor(previous, current);
            double p = words.NextProbability(previous, current, preferred);
            Assert.InRange(p, words.PreferredProbability, 1);
            double z = (nexts.Count(n => n == preferred) - nexts.Count * p) / Math.Sqrt(nexts.Count * p * (1 - p));
            sumSquares += z * z;
            pairs++;
        }
        Assert.True(pairs > 100, $"only {pairs} (previous, current) pairs were seen 40 times");
        Assert.InRange(sumSquares / pairs, 0.8, 1.2);

        // Bigram marginal: the mass on a word's successors is 0.5 + 0.3 + 0.2·Σ unigram(successor), whatever came before.
        int checkedWords = 0;
        foreach (var (current, nexts) in byWord)
        {
            if (nexts.Count < 500) continue;
            var successors = words.Successors(current);
            double p = words.PreferredProbability + words.AnySuccessorProbability + words.UnigramProbability * successors.Sum(words.Unigram);
            double observed = nexts.Count(successors.Contains) / (double)nexts.Count;
            double sigma = Math.Sqrt(p * (1 - p) / nexts.Count);
            Assert.InRange(observed, p - 5 * sigma, p + 5 * sigma);
            Assert.DoesNotContain(current, successors);
            checkedWords++;
        }
        Assert.True(checkedWords > 20, $"only {checkedWords} words were seen 500 times");

        // Zipf: w0 is the most frequent word, and about twice as frequent as w1 at the start of spans (unigram draws).
        var starts = data.Tokens.Zip(data.Spans).SelectMany(x => x.Second.Select(span => x.First[span.Start])).ToArray();
        int first = textOnly.Vocabulary.FirstWord;
        double ratio = starts.Count(t => t == first) / (double)starts.Count(t => t == first + 1);
        Assert.InRange(ratio, 1.6, 2.5);
    }

    [Fact]
    public void NextProbabilitiesSumToOne()
    {
        var words = Language.Words;
        int first = Language.Vocabulary.FirstWord, count = Language.Vocabulary.WordCount;
        foreach (int? previous in new int?[] { null, first + 3, first + 150 })
        {
            foreach (int current in new[] { first, first + 40, first + count - 1 })
            {
                double total = Enumerable.Range(first, count).Sum(next => words.NextProbability(previous, current, next));
                Assert.Equal(1.0, total, 9);
            }
        }
    }

    [Fact]
    public void DescribeNamesTheLayoutComponentsAndASample()
    {
        string text = Language.Describe();
        Assert.Contains("vocabulary: 349 ids", text);
        Assert.Contains("4–195", text);
        Assert.Contains("Mon–Sun", text);
        Assert.Contains("previous-token heads", text);
        Assert.Contains("induction", text);
        Assert.Contains("successor heads", text);
        Assert.Contains("sample: <bos> ", text);
    }

    private static void Add<TKey>(Dictionary<TKey, List<int>> map, TKey key, int value) where TKey : notnull
    {
        if (!map.TryGetValue(key, out var list)) map[key] = list = [];
        list.Add(value);
    }
}
