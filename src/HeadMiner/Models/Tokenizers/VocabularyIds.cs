namespace HeadMiner.Models.Tokenizers;

/// <summary>
/// Checks a vocabulary's ids before a tokenizer sizes its tables by the largest one: ids start at 0, and the largest
/// may leave gaps (cl100k_base has some below its special tokens) but not so many that a damaged file with an id of
/// two billion makes the loader allocate gigabytes.
/// </summary>
internal static class VocabularyIds
{
    /// <summary>How many unassigned ids a vocabulary may have beyond one per assigned token.</summary>
    private const int AllowedGap = 1024;

    /// <summary>The table size (largest id + 1) of <paramref name="entries"/>; a bad id is an error naming the token and <paramref name="source"/>.</summary>
    public static int Size(IEnumerable<KeyValuePair<string, int>> entries, string source)
    {
        int count = 0, max = -1;
        string? largest = null;
        foreach (var (piece, id) in entries)
        {
            if (id < 0) throw new HeadMinerException($"{source}: token \"{JsonAt.Clip(piece)}\" has id {id}; ids start at 0");
            count++;
            if (id > max) (max, largest) = (id, piece);
        }
        long limit = 2L * count + AllowedGap;
        if (max >= limit)
            throw new HeadMinerException($"{source}: token \"{JsonAt.Clip(largest!)}\" has id {max}, but there are only {count} tokens; ids must be below {limit}");
        return max + 1;
    }
}
