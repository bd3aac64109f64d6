using HeadMiner.Analysis.Detectors;
using HeadMiner.Hooks;
using HeadMiner.Hooks.Interventions;
using HeadMiner.Models;
using HeadMiner.Tensors;

namespace HeadMiner.Analysis.Atlas;

/// <summary>
/// Is a label causal? Zero-ablate the detector's top heads together (its labelled heads, at most
/// <see cref="AtlasOptions.CausalHeads"/>; the single best head when none passes the threshold) and measure the task
/// metric; then do the same for several random sets of as many other heads. A head type whose top heads matter moves
/// the metric much further than random heads do. Zero ablation sets the head's z (its output before W_O) to 0.
/// </summary>
public static class CausalConfirmation
{
    public static AtlasCausal Run(Transformer model, CausalTask task, DetectorResult result, AtlasOptions options, CancellationToken cancel = default)
    {
        var labelled = result.Labelled();
        var top = (labelled.Count > 0 ? labelled : result.Ranked().Take(1)).Take(options.CausalHeads)
            .Select(h => (h.Layer, h.Head)).ToArray();
        if (top.Length == 0) throw new HeadMinerException($"{result.DetectorId}: no head has a score, so there is nothing to ablate");

        double baseline = task.Evaluate(new HookSet(model.Config));
        cancel.ThrowIfCancellationRequested();
        double topValue = Ablated(model, task, top);

        var others = new List<(int Layer, int Head)>();
        for (int l = 0; l < model.Config.Layers; l++)
            for (int h = 0; h < model.Config.Heads; h++)
                if (!top.Contains((l, h))) others.Add((l, h));
        var draws = new List<IReadOnlyList<int[]>>();
        var values = new List<double>();
        if (others.Count >= top.Length)
        {
            var random = new SeededRandom(options.Detector.Seed ^ 0xAB1A7EUL);
            for (int d = 0; d < options.RandomDraws; d++)
            {
                cancel.ThrowIfCancellationRequested();
                var pick = Sample(random, others, top.Length);
                draws.Add([.. pick.Select(h => new[] { h.Layer, h.Head })]);
                values.Add(Ablated(model, task, pick));
            }
        }
        return new AtlasCausal
        {
            Metric = task.Metric,
            HigherIsBetter = task.HigherIsBetter,
            Ablation = "zero",
            Heads = [.. top.Select(h => new[] { h.Layer, h.Head })],
            Baseline = baseline,
            TopHeadsValue = topValue,
            RandomHeadsValue = values.Count > 0 ? values.Average() : null,
            RandomHeadsMedian = values.Count > 0 ? Median(values) : null,
            RandomDraws = draws,
            RandomValues = values,
        };
    }

    private static double Ablated(Transformer model, CausalTask task, IReadOnlyList<(int Layer, int Head)> heads)
    {
        var hooks = new HookSet(model.Config);
        foreach (var (l, h) in heads) HeadAblation.Zero(hooks, l, h);
        return task.Evaluate(hooks);
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        int n = sorted.Length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    // k distinct heads, partial Fisher–Yates on a copy.
    private static (int Layer, int Head)[] Sample(SeededRandom random, List<(int Layer, int Head)> pool, int k)
    {
        var copy = pool.ToArray();
        for (int i = 0; i < k; i++)
        {
            int j = i + random.NextInt(copy.Length - i);
            (copy[i], copy[j]) = (copy[j], copy[i]);
        }
        return copy[..k];
    }
}
