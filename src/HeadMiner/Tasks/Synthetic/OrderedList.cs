namespace HeadMiner.Tasks.Synthetic;

/// <summary>
/// An ordered run of <paramref name="Count"/> consecutive token ids from <paramref name="FirstId"/> (numbers, days,
/// months, letters). A cyclic list wraps from its last item to its first (Sunday → Monday); a non-cyclic one ends.
/// </summary>
public sealed record OrderedList(string Name, int FirstId, int Count, bool Cyclic)
{
    public bool Contains(int id) => id >= FirstId && id < FirstId + Count;

    /// <summary>The id after <paramref name="id"/>, or null at the end of a non-cyclic list.</summary>
    public int? Successor(int id)
    {
        if (!Contains(id)) throw new ArgumentOutOfRangeException(nameof(id), $"{id} is not in the list \"{Name}\"");
        int next = id - FirstId + 1;
        if (next < Count) return FirstId + next;
        return Cyclic ? FirstId : null;
    }
}
