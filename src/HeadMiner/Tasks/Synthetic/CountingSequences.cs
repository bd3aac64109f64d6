using HeadMiner.Tensors;

namespace HeadMiner.Tasks.Synthetic;

/// <summary>
/// Successor sequences: each sequence picks one of <see cref="Lists"/> uniformly and counts through it from a random
/// start (n17 n18 n19 …, Fri Sat Sun Mon …). A cyclic list wraps; a non-cyclic list that runs out restarts (at a
/// random item from which the rest fits, else at its first item). Every step is <see cref="PredictionKind.Successor"/>; the first item and each restart are
/// <see cref="PredictionKind.Random"/>.
/// </summary>
public sealed class CountingSequences : SequenceGenerator
{
    public IReadOnlyList<OrderedList> Lists { get; }
    public int? BosId { get; }

    public CountingSequences(IReadOnlyList<OrderedList> lists, int? bosId = null)
    {
        if (lists.Count == 0) throw new ArgumentException("counting needs at least one ordered list", nameof(lists));
        foreach (var list in lists) ArgumentOutOfRangeException.ThrowIfLessThan(list.Count, 2, $"list \"{list.Name}\" count");
        Lists = lists;
        BosId = bosId;
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
        Count(random, Lists[random.NextInt(Lists.Count)], tokens[start..], labels[start..]);
        return [new ComponentSpan(SyntheticComponent.Counting, start, tokens.Length - start)];
    }

    /// <summary>Counts through <paramref name="list"/> from a random item, filling every position.</summary>
    public static void Count(SeededRandom random, OrderedList list, Span<int> tokens, Span<PredictionKind> labels)
    {
        for (int i = 0; i < tokens.Length; i++)
        {
            int? next = i == 0 ? null : list.Successor(tokens[i - 1]);
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
                int remaining = tokens.Length - i;
                int starts = list.Cyclic ? list.Count : remaining <= list.Count ? list.Count - remaining + 1 : i == 0 ? list.Count : 1;
                tokens[i] = list.FirstId + random.NextInt(starts);
                labels[i] = PredictionKind.Random;
            }
        }
    }
}
