using HeadMiner.Tensors;

namespace HeadMiner.Analysis.Detectors;

/// <summary>
/// Evidence from one example prompt's pattern: for each query row its strongest key (BOS skipped when asked), and of
/// those rows the ones a predicate marks as relevant, strongest first. Pattern detectors keep the first prompt's
/// pattern per head and call this once at the end.
/// </summary>
public static class PatternEvidence
{
    /// <param name="pattern">[T, T] of one head on prompt <paramref name="prompt"/>.</param>
    /// <param name="rows">Which query rows to consider (null: all).</param>
    public static IReadOnlyList<AttentionExample> Top(DetectorContext context, int prompt, int[] ids, Tensor pattern,
        bool skipBos, Func<int, bool>? rows = null)
    {
        int count = context.Options.Examples;
        if (count == 0) return [];
        var best = new List<AttentionExample>();
        int T = ids.Length, firstKey = skipBos ? 1 : 0;
        for (int i = firstKey; i < T; i++)
        {
            if (rows is not null && !rows(i)) continue;
            int arg = -1;
            float max = float.NegativeInfinity;
            for (int j = firstKey; j <= i; j++)
                if (pattern[i, j] > max) (max, arg) = (pattern[i, j], j);
            if (arg < 0) continue;
            best.Add(new AttentionExample(prompt, i, DetectorPrompts.TokenText(context, ids[i]), arg, DetectorPrompts.TokenText(context, ids[arg]), max));
        }
        return [.. best.OrderByDescending(e => e.Weight).ThenBy(e => e.Query).Take(count)];
    }
}
