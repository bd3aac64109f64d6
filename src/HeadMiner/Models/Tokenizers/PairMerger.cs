namespace HeadMiner.Models.Tokenizers;

/// <summary>
/// The BPE merge loop shared by every tokenizer here: repeatedly merge the adjacent pair with the best priority
/// (lowest merge rank; scores are turned into ranks by their order), the leftmost one on ties, until no pair merges.
/// That is exactly what Hugging Face's BPE (rank), llama2.c's run.c (score) and SentencePiece do; a heap with lazy
/// invalidation makes it O(n log n) instead of run.c's O(n^2) rescans, so a 100k-character word stays fast.
/// </summary>
internal static class PairMerger
{
    /// <summary>Whether (left, right) merges, into which id, with which rank (lower merges first).</summary>
    public delegate bool TryMergePair(int left, int right, out int rank, out int merged);

    /// <summary>Merges <paramref name="symbols"/> in place and returns how many remain at its front.</summary>
    public static int Merge(Span<int> symbols, TryMergePair tryMerge)
    {
        int n = symbols.Length;
        if (n < 2) return n;
        if (n == 2)
        {
            if (!tryMerge(symbols[0], symbols[1], out _, out int only)) return 2;
            symbols[0] = only;
            return 1;
        }

        var next = new int[n];
        var prev = new int[n];
        var alive = new bool[n];
        for (int i = 0; i < n; i++)
        {
            next[i] = i + 1 < n ? i + 1 : -1;
            prev[i] = i - 1;
            alive[i] = true;
        }
        // Element: left symbol position; priority: rank in the high half, position in the low half, so ties go to the
        // leftmost pair. Positions are the original indices, whose order is the current left-to-right order.
        var queue = new PriorityQueue<int, long>(n);
        for (int i = 0; i + 1 < n; i++)
        {
            if (tryMerge(symbols[i], symbols[i + 1], out int r, out _)) queue.Enqueue(i, Priority(r, i));
        }
        while (queue.TryDequeue(out int left, out long key))
        {
            int right = alive[left] ? next[left] : -1;
            if (right < 0) continue;
            // Stale entries (a neighbour has merged since) no longer describe this pair: skip them.
            if (!tryMerge(symbols[left], symbols[right], out int rank, out int merged) || Priority(rank, left) != key) continue;
            symbols[left] = merged;
            alive[right] = false;
            next[left] = next[right];
            if (next[right] >= 0) prev[next[right]] = left;
            int before = prev[left];
            if (before >= 0 && tryMerge(symbols[before], symbols[left], out int rb, out _)) queue.Enqueue(before, Priority(rb, before));
            int after = next[left];
            if (after >= 0 && tryMerge(symbols[left], symbols[after], out int ra, out _)) queue.Enqueue(left, Priority(ra, left));
        }
        int count = 0;
        for (int i = 0; i >= 0; i = next[i]) symbols[count++] = symbols[i];
        return count;
    }

    private static long Priority(int rank, int position) => ((long)rank << 32) | (uint)position;
}
