using HeadMiner.Tensors;

namespace HeadMiner.Tasks.Synthetic;

/// <summary>
/// Successor sequences: each sequence picks one of <see cref="Lists"/> uniformly and counts through it from a random
/// start (n17 n18 n19 …, Fri Sat Sun Mon …). A cyclic list wraps; a non-cyclic list that runs out restarts (at a
/// random item from which the rest fits, else at its first item). Every step is <see cref="PredictionKind.Successor"/>;
/// the first item and each restart are <see cref="PredictionKind.Random"/>.
/// <para>
/// With a filler range, a share <see cref="InterleavedProbability"/> of the runs put one uniform filler token after
/// each item (n17 w3 n18 w90 n19 …, fillers <see cref="PredictionKind.Random"/>). Why: in a plain run the next item
/// follows from the current token alone, which the direct path (embed → unembed) learns without attention; in an
/// interleaved run the item to continue is two positions back, so a head must attend to it and map it to its successor
/// through its OV circuit — what a successor head does.
/// </para>
/// </summary>
public sealed class CountingSequences : SequenceGenerator
{
    public IReadOnlyList<OrderedList> Lists { get; }
    public int? BosId { get; }
    public int FillerFirstId { get; }
    public int FillerCount { get; }
    public double InterleavedProbability { get; }

    public CountingSequences(IReadOnlyList<OrderedList> lists, int? bosId = null, int fillerFirstId = 0, int fillerCount = 0,
        double interleavedProbability = 0.5)
    {
        if (lists.Count == 0) throw new ArgumentException("counting needs at least one ordered list", nameof(lists));
        foreach (var list in lists) ArgumentOutOfRangeException.ThrowIfLessThan(list.Count, 2, $"list \"{list.Name}\" count");
        ArgumentOutOfRangeException.ThrowIfNegative(fillerCount);
        if (interleavedProbability is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(interleavedProbability));
        Lists = lists;
        BosId = bosId;
        FillerFirstId = fillerFirstId;
        FillerCount = fillerCount;
        InterleavedProbability = fillerCount == 0 ? 0 : interleavedProbability;
    }

    public override int MinLength => (BosId is null ? 0 : 1) + 2;

    public override ComponentSpan[] Fill(SeededRandom random, Span<int> tokens, Span<PredictionKind> labels)
    {
        int start = 0;
        if (BosId is int bos)
        {
            tokens[0] = bos;
            labels[0] = PredictionKind.Special;
            start = 1;
        }
        FillRun(random, tokens[start..], labels[start..]);
        return [new ComponentSpan(SyntheticComponent.Counting, start, tokens.Length - start)];
    }

    /// <summary>One run over every position: a random list, plain or (with fillers) interleaved.</summary>
    public void FillRun(SeededRandom random, Span<int> tokens, Span<PredictionKind> labels)
    {
        var list = Lists[random.NextInt(Lists.Count)];
        bool interleaved = InterleavedProbability > 0 && random.NextDouble() < InterleavedProbability;
        Count(random, list, tokens, labels, interleaved ? 2 : 1, FillerFirstId, FillerCount);
    }

    /// <summary>
    /// Counts through <paramref name="list"/> from a random item, filling every position: items at every
    /// <paramref name="stride"/>-th position, uniform fillers from [<paramref name="fillerFirstId"/>,
    /// <paramref name="fillerFirstId"/> + <paramref name="fillerCount"/>) between them.
    /// </summary>
    public static void Count(SeededRandom random, OrderedList list, Span<int> tokens, Span<PredictionKind> labels,
        int stride = 1, int fillerFirstId = 0, int fillerCount = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(stride, 1);
        if (stride > 1 && fillerCount < 1) throw new ArgumentException("an interleaved run needs filler ids", nameof(fillerCount));
        int items = (tokens.Length + stride - 1) / stride;
        for (int i = 0; i < tokens.Length; i++)
        {
            if (i % stride != 0)
            {
                tokens[i] = fillerFirstId + random.NextInt(fillerCount);
                labels[i] = PredictionKind.Random;
                continue;
            }
            int? next = i == 0 ? null : list.Successor(tokens[i - stride]);
            if (next is int id)
            {
                tokens[i] = id;
                labels[i] = PredictionKind.Successor;
            }
            else
            {
                // Start anywhere the rest of the run fits without a restart. When it cannot fit, the first start is
                // still anywhere, but a restart begins at the first item (recite the list again), which bounds the
                // number of restarts by the run's length over the list's.
                int remaining = items - i / stride;
                int starts = list.Cyclic ? list.Count : remaining <= list.Count ? list.Count - remaining + 1 : i == 0 ? list.Count : 1;
                tokens[i] = list.FirstId + random.NextInt(starts);
                labels[i] = PredictionKind.Random;
            }
        }
    }
}
