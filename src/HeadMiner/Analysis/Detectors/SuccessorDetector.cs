using HeadMiner.Tasks.Sets;

namespace HeadMiner.Analysis.Detectors;

/// <summary>
/// Successor heads (Gould et al. 2023): their OV circuit maps an item of an ordered list (a number, day, month,
/// letter) to the next one. Succession score: for every consecutive pair (k, k+1) seen in the successor task set,
/// push W_E[k] through the head's W_V W_O W_U and read the logits of the items of k's list (the tokens linked by
/// successor steps in the set, k itself included); the score is the share of pairs whose top item is k+1.
/// Chance is 1/|list| per pair (the baseline).
/// </summary>
public sealed class SuccessorDetector : ICausalDetector
{
    private static readonly TaskSetGenerator Generator = new SuccessorSet();

    public string Id => "successor";

    public string Description =>
        "ordinal sequences: the OV circuit maps item k to item k+1; score = share of list items k whose W_E[k] W_V W_O W_U logit is highest, among the list's items, on k+1";

    public DetectorKind Kind => DetectorKind.Task;

    public string? CannotRun(DetectorContext context) => TaskPrompts.CannotRun(context, Generator);

    public DetectorResult Run(DetectorContext context, IProgress<double>? progress = null, CancellationToken cancel = default)
    {
        var set = TaskPrompts.Build(context, Generator, Math.Max(context.Options.Prompts, 32), Id);
        var (items, successors, list) = Lists(set, context.Tokenizer!.BosId);
        int n = items.Length;
        var logits = OvCircuit.ProbeLogits(context.Model, items);
        int L = context.Config.Layers, H = context.Config.Heads;
        var scores = new double[L * H];
        var pairs = successors.ToArray();
        var hit = pairs.Select(_ => new double[L * H]).ToArray();
        for (int l = 0; l < L; l++)
            for (int h = 0; h < H; h++)
            {
                var m = logits[l][h];
                int hits = 0;
                for (int s = 0; s < pairs.Length; s++)
                {
                    var (from, to) = pairs[s];
                    int best = -1;
                    float max = float.NegativeInfinity;
                    for (int t = 0; t < n; t++)
                        if (list[t] == list[from] && m[from * n + t] > max) (max, best) = (m[from * n + t], t);
                    if (best != to) continue;
                    hits++;
                    hit[s][l * H + h] = 1;
                }
                scores[l * H + h] = (double)hits / pairs.Length;
            }
        progress?.Report(1);
        var sizes = pairs.Select(p => list.Count(g => g == list[p.From])).ToArray();
        double baseline = sizes.Average(s => 1.0 / s);
        int lists = list.Distinct().Count();
        return TaskResult.Create(Id, context, scores,
            (0.6f, "0.6: the successor wins among the list's items for 60% of the items, against ~1/|list| by chance; 0.5 was passed by untrained heads on short lists (8 letters, 7 days: null max 0.57)"),
            k => $"successor on top for {scores[k] * pairs.Length:0} of {pairs.Length} items (chance {baseline:0.000})",
            [
                $"{pairs.Length} successor steps over {n} items in {lists} list(s), read from {set.Count} successor prompts ({set.Description})",
                "W_E is the raw token embedding (Gould et al. use the embedding after MLP0); weights as the model holds them",
            ], baseline, samples: ScoreSamples.Mean("successor steps", hit, grows: false));
    }

    /// <summary>The set's items, its successor steps (as item indices) and each item's list (connected by steps).</summary>
    private static (int[] Items, HashSet<(int From, int To)> Steps, int[] List) Lists(TaskPrompts set, int? bos)
    {
        var index = new Dictionary<int, int>();
        var steps = new HashSet<(int, int)>();
        int Of(int token) => index.TryGetValue(token, out int i) ? i : index[token] = index.Count;
        void Run(int[] tokens, int next)
        {
            var run = tokens.Where(t => t != bos).Append(next).ToArray();
            for (int i = 0; i + 1 < run.Length; i++) steps.Add((Of(run[i]), Of(run[i + 1])));
        }
        foreach (var p in set.Prompts)
        {
            Run(p.Clean, p.Answer);
            Run(p.Corrupted, p.Wrong);
        }
        // Lists = connected components of the steps (union–find).
        var parent = Enumerable.Range(0, index.Count).ToArray();
        int Find(int x) => parent[x] == x ? x : parent[x] = Find(parent[x]);
        foreach (var (a, b) in steps) parent[Find(a)] = Find(b);
        var items = new int[index.Count];
        foreach (var (token, i) in index) items[i] = token;
        return (items, steps, [.. Enumerable.Range(0, items.Length).Select(Find)]);
    }

    /// <summary>logit[next item] − logit[the corrupted run's next item] at the last position.</summary>
    public CausalTask? CausalTask(DetectorContext context) => CannotRun(context) is null
        ? TaskPrompts.Build(context, Generator, context.Options.Prompts, Id).LogitDiffTask("next item")
        : null;
}
