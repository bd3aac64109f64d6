using HeadMiner.Tensors;

namespace HeadMiner.Tasks.Synthetic;

/// <summary>
/// "ICL Markov chains": each sequence walks a Markov chain over <see cref="StateCount"/> states (token ids
/// [<see cref="FirstTokenId"/>, <see cref="FirstTokenId"/> + <see cref="StateCount"/>)) whose transition matrix is
/// drawn fresh per sequence, each row from a symmetric Dirichlet(<see cref="Concentration"/>). No fixed weights can
/// know the matrix, so the best a model can do is count the transitions seen so far in its context — the statistical
/// induction head solution. The first state is uniform (<see cref="PredictionKind.Random"/>), every later one
/// <see cref="PredictionKind.Markov"/>.
/// </summary>
public sealed class MarkovChain : SequenceGenerator
{
    public int FirstTokenId { get; }
    public int StateCount { get; }
    public double Concentration { get; }
    public int? BosId { get; }

    public MarkovChain(int firstTokenId, int stateCount, double concentration = 1.0, int? bosId = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(firstTokenId);
        ArgumentOutOfRangeException.ThrowIfLessThan(stateCount, 2);
        if (!(concentration > 0)) throw new ArgumentOutOfRangeException(nameof(concentration), "the concentration must be positive");
        FirstTokenId = firstTokenId;
        StateCount = stateCount;
        Concentration = concentration;
        BosId = bosId;
    }

    public override int MinLength => (BosId is null ? 0 : 1) + 2;

    /// <summary>A transition matrix [from, to], row-major, each row a Dirichlet draw.</summary>
    public double[] DrawTransitionMatrix(SeededRandom random)
    {
        var matrix = new double[StateCount * StateCount];
        for (int row = 0; row < StateCount; row++)
            DirichletSampler.Sample(random, Concentration, matrix.AsSpan(row * StateCount, StateCount));
        return matrix;
    }

    /// <summary>The matrix that sequence <paramref name="index"/> of <c>Generate(…, seed)</c> walks (the matrix is its first draw).</summary>
    public double[] TransitionMatrixOf(ulong seed, int index) => DrawTransitionMatrix(RandomFor(seed, index));

    public override ComponentSpan[] Fill(SeededRandom random, Span<int> tokens, Span<PredictionKind> labels)
    {
        var matrix = DrawTransitionMatrix(random);
        int start = 0;
        if (BosId is int bos)
        {
            tokens[0] = bos;
            labels[0] = PredictionKind.Special;
            start = 1;
        }
        Walk(random, matrix, tokens[start..], labels[start..]);
        return [new ComponentSpan(SyntheticComponent.MarkovChain, start, tokens.Length - start)];
    }

    /// <summary>Walks <paramref name="matrix"/> from a uniform first state, writing token ids and labels.</summary>
    public void Walk(SeededRandom random, ReadOnlySpan<double> matrix, Span<int> tokens, Span<PredictionKind> labels)
    {
        if (matrix.Length != StateCount * StateCount) throw new ArgumentException($"a {StateCount}-state chain needs {StateCount * StateCount} matrix entries, got {matrix.Length}");
        if (tokens.IsEmpty) return;
        int state = random.NextInt(StateCount);
        tokens[0] = FirstTokenId + state;
        labels[0] = PredictionKind.Random;
        for (int i = 1; i < tokens.Length; i++)
        {
            state = SampleIndex(random, matrix.Slice(state * StateCount, StateCount));
            tokens[i] = FirstTokenId + state;
            labels[i] = PredictionKind.Markov;
        }
    }

    /// <summary>An index drawn with the given probabilities (which sum to 1 up to rounding; rounding slack goes to the last index with mass).</summary>
    internal static int SampleIndex(SeededRandom random, ReadOnlySpan<double> probabilities)
    {
        double u = random.NextDouble(), cumulative = 0;
        int last = 0;
        for (int i = 0; i < probabilities.Length; i++)
        {
            if (probabilities[i] <= 0) continue;
            cumulative += probabilities[i];
            last = i;
            if (u < cumulative) return i;
        }
        return last;
    }
}
