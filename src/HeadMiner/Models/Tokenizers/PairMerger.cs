namespace HeadMiner.Models.Tokenizers;

/// <summary>
/// The BPE merge loop shared by every tokenizer here: repeatedly merge the adjacent pair with the best priority
/// (lowest merge rank; or highest score, given as its negation), the leftmost one on ties, until no pair merges.
/// That is exactly what Hugging Face's BPE (rank), llama2.c's run.c (score) and SentencePiece do; a heap with lazy
/// invalidation makes it O(n log n) instead of run.c's O(n^2) rescans, so a 100k-character word stays fast.
/// </summary>
internal static class PairMerger
{
    /// <summary>Whether (left, right) merges, into which id, with which priority (lower merges first).</summary>
    public delegate bool TryMergePair(int left, int right, out double priority, out int merged);

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
        // Element: left symbol position; priority: (priority, position) so ties go to the leftmost pair. Positions
        // are the original indices, whose order is the current left-to-right order of the surviving symbols.
        var queue = new PriorityQueue<int, (double, int)>();
        for (int i = 0; i + 1 < n; i++)
        {
            if (tryMerge(symbols[i], symbols[i + 1], out double p, out _)) queue.Enqueue(i, (p, i));
        }
        while (queue.TryDequeue(out int left, out var key))
        {
            int right = alive[left] ? next[left] : -1;
            if (right < 0) continue;
            // Stale entries (a neighbour has merged since) no longer describe this pair: skip them.
            if (!tryMerge(symbols[left], symbols[right], out double priority, out int merged) || priority != key.Item1) continue;
            symbols[left] = merged;
            alive[right] = false;
            next[left] = next[right];
            if (next[right] >= 0) prev[next[right]] = left;
            int before = prev[left];
            if (before >= 0 && tryMerge(symbols[before], symbols[left], out double pb, out _)) queue.Enqueue(before, (pb, before));
            int after = next[left];
            if (after >= 0 && tryMerge(symbols[left], symbols[after], out double pa, out _)) queue.Enqueue(left, (pa, left));
        }
        int count = 0;
        for (int i = 0; i >= 0; i = next[i]) symbols[count++] = symbols[i];
        return count;
    }
}
