using HeadMiner.Tensors;

namespace HeadMiner.Tasks.Synthetic;

/// <summary>
/// The toy language's fixed word model, drawn once from a language seed. Unigram frequencies are Zipfian
/// (p(w_r) ∝ 1 / (r + 1)^s, so w0 is the most frequent word). Each word has <see cref="SuccessorsPerWord"/> likely
/// successors (distinct, never itself, drawn by unigram frequency), and each (previous word, word) pair prefers one of
/// them. The next word after previous word p and current word a is:
/// <list type="bullet">
/// <item>with probability <see cref="PreferredProbability"/>, a's successor preferred by (p, a);</item>
/// <item>with probability <see cref="AnySuccessorProbability"/>, one of a's successors uniformly;</item>
/// <item>otherwise a unigram draw.</item>
/// </list>
/// Why the pair: a pure bigram model is learnt by the direct path (embed → unembed) and needs no attention at all; the
/// preferred successor depends on the word before the current one, so reading the previous position pays — the job of
/// a previous-token head. The first word of a span has no previous word and prefers by a "start" row instead.
/// </summary>
public sealed class WordModel
{
    private readonly double[] _unigramCumulative;
    private readonly int[] _successors;   // [word, k] word indices
    private readonly byte[] _preferred;   // [previous word or start (= WordCount), word] → k

    public int FirstTokenId { get; }
    public int WordCount { get; }
    public int SuccessorsPerWord { get; }
    public double PreferredProbability { get; }
    public double AnySuccessorProbability { get; }
    public double UnigramProbability => 1 - PreferredProbability - AnySuccessorProbability;

    public WordModel(int firstTokenId, int wordCount, ulong languageSeed, double zipfExponent = 1.0, int successorsPerWord = 4,
        double preferredProbability = 0.5, double anySuccessorProbability = 0.3)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(firstTokenId);
        ArgumentOutOfRangeException.ThrowIfLessThan(successorsPerWord, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(successorsPerWord, Math.Min(255, wordCount - 1));
        if (preferredProbability < 0 || anySuccessorProbability < 0 || preferredProbability + anySuccessorProbability > 1)
            throw new ArgumentOutOfRangeException(nameof(preferredProbability), "the successor probabilities must be non-negative and sum to at most 1");
        FirstTokenId = firstTokenId;
        WordCount = wordCount;
        SuccessorsPerWord = successorsPerWord;
        PreferredProbability = preferredProbability;
        AnySuccessorProbability = anySuccessorProbability;

        _unigramCumulative = new double[wordCount];
        double total = 0;
        for (int r = 0; r < wordCount; r++) total += Math.Pow(r + 1, -zipfExponent);
        double running = 0;
        for (int r = 0; r < wordCount; r++) _unigramCumulative[r] = running += Math.Pow(r + 1, -zipfExponent) / total;
        _unigramCumulative[^1] = 1;

        var random = new SeededRandom(languageSeed);
        _successors = new int[wordCount * successorsPerWord];
        for (int w = 0; w < wordCount; w++)
        {
            var row = _successors.AsSpan(w * successorsPerWord, successorsPerWord);
            for (int k = 0; k < successorsPerWord; k++)
            {
                int s;
                do s = SampleUnigramIndex(random);
                while (s == w || row[..k].Contains(s));
                row[k] = s;
            }
        }
        _preferred = new byte[(wordCount + 1) * wordCount];
        for (int i = 0; i < _preferred.Length; i++) _preferred[i] = (byte)random.NextInt(successorsPerWord);
    }

    /// <summary>p(word) of the unigram distribution.</summary>
    public double Unigram(int wordId)
    {
        int w = IndexOf(wordId);
        return _unigramCumulative[w] - (w == 0 ? 0 : _unigramCumulative[w - 1]);
    }

    /// <summary>The likely successors of <paramref name="wordId"/>, as token ids.</summary>
    public int[] Successors(int wordId)
    {
        int w = IndexOf(wordId);
        var result = new int[SuccessorsPerWord];
        for (int k = 0; k < SuccessorsPerWord; k++) result[k] = FirstTokenId + _successors[w * SuccessorsPerWord + k];
        return result;
    }

    /// <summary>The successor that (previous, current) prefers; <paramref name="previousWordId"/> null = start of a span.</summary>
    public int PreferredSuccessor(int? previousWordId, int currentWordId)
    {
        int a = IndexOf(currentWordId), p = previousWordId is int id ? IndexOf(id) : WordCount;
        return FirstTokenId + _successors[a * SuccessorsPerWord + _preferred[p * WordCount + a]];
    }

    /// <summary>P(next | previous, current), exactly as <see cref="Fill"/> samples it.</summary>
    public double NextProbability(int? previousWordId, int currentWordId, int nextWordId)
    {
        double p = UnigramProbability * Unigram(nextWordId);
        if (Array.IndexOf(Successors(currentWordId), nextWordId) >= 0) p += AnySuccessorProbability / SuccessorsPerWord;
        if (PreferredSuccessor(previousWordId, currentWordId) == nextWordId) p += PreferredProbability;
        return p;
    }

    /// <summary>A span of text: the first word a unigram draw (<see cref="PredictionKind.Random"/>), the rest <see cref="PredictionKind.Text"/>.</summary>
    public void Fill(SeededRandom random, Span<int> tokens, Span<PredictionKind> labels)
    {
        int previous = WordCount, current = -1;
        for (int i = 0; i < tokens.Length; i++)
        {
            int next;
            if (current < 0)
            {
                next = SampleUnigramIndex(random);
                labels[i] = PredictionKind.Random;
            }
            else
            {
                double u = random.NextDouble();
                var successors = _successors.AsSpan(current * SuccessorsPerWord, SuccessorsPerWord);
                if (u < PreferredProbability) next = successors[_preferred[previous * WordCount + current]];
                else if (u < PreferredProbability + AnySuccessorProbability) next = successors[random.NextInt(SuccessorsPerWord)];
                else next = SampleUnigramIndex(random);
                labels[i] = PredictionKind.Text;
                previous = current;
            }
            current = next;
            tokens[i] = FirstTokenId + next;
        }
    }

    /// <summary>A word id drawn by unigram frequency.</summary>
    public int SampleUnigram(SeededRandom random) => FirstTokenId + SampleUnigramIndex(random);

    private int SampleUnigramIndex(SeededRandom random)
    {
        int index = Array.BinarySearch(_unigramCumulative, random.NextDouble());
        return Math.Min(index < 0 ? ~index : index + 1, WordCount - 1);
    }

    private int IndexOf(int wordId)
    {
        int w = wordId - FirstTokenId;
        if (w < 0 || w >= WordCount) throw new ArgumentOutOfRangeException(nameof(wordId), $"{wordId} is not a word id [{FirstTokenId}, {FirstTokenId + WordCount})");
        return w;
    }
}
