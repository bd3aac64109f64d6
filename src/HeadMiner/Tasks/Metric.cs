using HeadMiner.Tensors;
using HeadMiner.Tensors.Kernels;

namespace HeadMiner.Tasks;

/// <summary>The metrics an intervention is measured with.</summary>
public enum MetricKind
{
    /// <summary>logit[answer] − logit[wrong] at the last position, mean over pairs.</summary>
    LogitDiff,

    /// <summary>p[answer] − p[wrong] at the last position, mean over pairs.</summary>
    ProbDiff,

    /// <summary>KL(clean ‖ run) of the next-token distribution at the last position, mean over pairs (0 = clean behaviour).</summary>
    KlDivergence,

    /// <summary>Mean next-token cross-entropy over every position of the prompt.</summary>
    Loss,
}

/// <summary>
/// Computes a <see cref="MetricKind"/> from logits. Last-position metrics take logits [B, 1, V] (or [B, T, V], of
/// which the last position is used); <see cref="MetricKind.Loss"/> needs every position. KL needs the clean run's
/// logits, given at construction.
/// </summary>
public sealed class Metric
{
    private readonly float[]? _cleanLogProbs;

    public MetricKind Kind { get; }
    public TokenizedPairs Pairs { get; }

    public Metric(MetricKind kind, TokenizedPairs pairs, Tensor? cleanLastLogits = null)
    {
        Kind = kind;
        Pairs = pairs;
        if (kind == MetricKind.KlDivergence)
        {
            if (cleanLastLogits is null) throw new ArgumentException("KL divergence needs the clean run's last-position logits");
            _cleanLogProbs = LastLogProbs(cleanLastLogits);
        }
    }

    public string Name => Kind switch
    {
        MetricKind.LogitDiff => "logit_diff",
        MetricKind.ProbDiff => "prob_diff",
        MetricKind.KlDivergence => "kl_divergence",
        _ => "loss",
    };

    /// <summary>Whether the metric reads only each sequence's last position (so runs may unembed just that).</summary>
    public bool LastPositionOnly => Kind != MetricKind.Loss;

    public static MetricKind Parse(string name) => name.Replace('-', '_').ToLowerInvariant() switch
    {
        "logit_diff" or "logitdiff" => MetricKind.LogitDiff,
        "prob_diff" or "probdiff" => MetricKind.ProbDiff,
        "kl" or "kl_divergence" => MetricKind.KlDivergence,
        "loss" or "cross_entropy" or "ce" => MetricKind.Loss,
        _ => throw new HeadMinerException($"unknown metric \"{name}\" (logit_diff, prob_diff, kl, loss)"),
    };

    /// <summary>The metric for a run whose logits are [pairs·k, T or 1, V]: <paramref name="logits"/> holds k runs of all pairs (pair-major within each run); returns one value per run.</summary>
    public double[] ComputeMany(Tensor logits, int[][]? tokens = null)
    {
        int rows = logits.Dim(0), n = Pairs.Count;
        if (rows % n != 0) throw new ArgumentException($"{rows} rows are not a multiple of {n} pairs");
        var result = new double[rows / n];
        for (int k = 0; k < result.Length; k++) result[k] = Compute(logits.Slice(0, k * n, n), tokens);
        return result;
    }

    /// <summary>As <see cref="ComputeMany"/>, each run's metric per pair: result[run][pair].</summary>
    public double[][] PerPairMany(Tensor logits, int[][]? tokens = null)
    {
        int rows = logits.Dim(0), n = Pairs.Count;
        if (rows % n != 0) throw new ArgumentException($"{rows} rows are not a multiple of {n} pairs");
        var result = new double[rows / n][];
        for (int k = 0; k < result.Length; k++) result[k] = PerPair(logits.Slice(0, k * n, n), tokens);
        return result;
    }

    /// <summary>The metric for logits [pairs, T or 1, V] of one run over all pairs.</summary>
    public double Compute(Tensor logits, int[][]? tokens = null) => PerPair(logits, tokens).Average();

    /// <summary>The metric of each pair (their mean is <see cref="Compute"/>), for logits [pairs, T or 1, V].</summary>
    public double[] PerPair(Tensor logits, int[][]? tokens = null)
    {
        int n = Pairs.Count, t = logits.Dim(1), v = logits.Dim(2);
        if (logits.Dim(0) != n) throw new ArgumentException($"logits for {logits.Dim(0)} sequences, {n} pairs");
        var values = new double[n];
        var row = new float[v];
        for (int i = 0; i < n; i++)
        {
            if (Kind == MetricKind.Loss)
            {
                var seq = (tokens ?? Pairs.Clean)[i];
                if (t != seq.Length) throw new ArgumentException("the loss metric needs logits at every position");
                var all = logits.Select(0, i).Contiguous().ToArray();
                var losses = new float[t - 1];
                CrossEntropy.RowLosses(all.AsSpan(0, (t - 1) * v), t - 1, v, seq.AsSpan(1), losses);
                values[i] = losses.Average();
                continue;
            }
            logits.Select(0, i).Select(0, t - 1).CopyTo(Tensor.Wrap(row, v));
            int a = Pairs.Answers[i], w = Pairs.Wrongs[i];
            switch (Kind)
            {
                case MetricKind.LogitDiff:
                    values[i] = row[a] - row[w];
                    break;
                case MetricKind.ProbDiff:
                    Softmax.Rows(row, 1, v);
                    values[i] = row[a] - row[w];
                    break;
                case MetricKind.KlDivergence:
                    Softmax.LogRows(row, 1, v);
                    double kl = 0;
                    for (int j = 0; j < v; j++)
                    {
                        double p = Math.Exp(_cleanLogProbs![i * v + j]);
                        if (p > 0) kl += p * (_cleanLogProbs[i * v + j] - row[j]);
                    }
                    values[i] = kl;
                    break;
            }
        }
        return values;
    }

    private static float[] LastLogProbs(Tensor logits)
    {
        int n = logits.Dim(0), t = logits.Dim(1), v = logits.Dim(2);
        var result = new float[n * v];
        for (int i = 0; i < n; i++) logits.Select(0, i).Select(0, t - 1).CopyTo(Tensor.Wrap(result, n, v).Select(0, i));
        Softmax.LogRows(result, n, v);
        return result;
    }

    /// <summary>
    /// The Greater-Than metric (Hanna et al. 2023) for one next-token logit row: the probability mass on
    /// <paramref name="answerSet"/> minus that on <paramref name="wrongSet"/> (e.g. the years after YY and YY with the
    /// years before it), from a softmax over the whole vocabulary. Ids listed twice count once.
    /// </summary>
    public static double ProbMassDiff(ReadOnlySpan<float> logits, IReadOnlyCollection<int> answerSet, IReadOnlyCollection<int> wrongSet)
    {
        float max = float.NegativeInfinity;
        foreach (float x in logits) max = Math.Max(max, x);
        double z = 0;
        foreach (float x in logits) z += Math.Exp(x - max);
        return (Mass(logits, answerSet, max) - Mass(logits, wrongSet, max)) / z;
    }

    private static double Mass(ReadOnlySpan<float> logits, IReadOnlyCollection<int> ids, float max)
    {
        double m = 0;
        foreach (int id in ids.Distinct())
        {
            if ((uint)id >= (uint)logits.Length) throw new HeadMinerException($"token id {id} is outside the vocabulary of {logits.Length}");
            m += Math.Exp(logits[id] - max);
        }
        return m;
    }

    /// <summary>
    /// (patched − corrupted) / (clean − corrupted): 1 = clean behaviour, 0 = corrupted behaviour; NaN when the
    /// denominator is (near) zero (<see cref="IsDegenerate"/>), where the ratio would be undefined or pure rounding noise.
    /// </summary>
    public static double Normalize(double patched, double clean, double corrupted) =>
        IsDegenerate(clean, corrupted) ? double.NaN : (patched - corrupted) / (clean - corrupted);

    /// <summary>
    /// Whether clean − corrupted is too small to normalise by: |clean − corrupted| ≤ 10⁻⁴ · max(|clean|, |corrupted|,
    /// 0.01), i.e. within what metrics computed from float32 logits resolve (and exactly zero always), or not finite.
    /// </summary>
    public static bool IsDegenerate(double clean, double corrupted)
    {
        double d = clean - corrupted;
        return !double.IsFinite(d) || Math.Abs(d) <= 1e-4 * Math.Max(Math.Max(Math.Abs(clean), Math.Abs(corrupted)), 0.01);
    }

    /// <summary>The pairs whose own clean and corrupted metrics are degenerate (<see cref="IsDegenerate"/>).</summary>
    public static int[] DegeneratePairs(IReadOnlyList<double> clean, IReadOnlyList<double> corrupted) =>
        [.. Enumerable.Range(0, Math.Min(clean.Count, corrupted.Count)).Where(i => IsDegenerate(clean[i], corrupted[i]))];

    /// <summary>
    /// One line for a front end when the normalisation is undefined (null otherwise): the denominator's value, that the
    /// normalised values are written as null, and which pairs (0-based, in file order) have equal clean and corrupted metrics.
    /// </summary>
    public static string? DegenerateWarning(string metricName, double clean, double corrupted, IReadOnlyList<int> degeneratePairs)
    {
        if (!IsDegenerate(clean, corrupted)) return null;
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        string pairs = degeneratePairs.Count == 0 ? ""
            : $"; pair(s) whose clean and corrupted runs give the same {metricName}: {string.Join(", ", degeneratePairs.Take(20))}{(degeneratePairs.Count > 20 ? $" … ({degeneratePairs.Count} in all)" : "")}";
        return $"warning: {metricName} clean − corrupted = {(clean - corrupted).ToString("G4", inv)} (clean {clean.ToString("G6", inv)}, corrupted {corrupted.ToString("G6", inv)}) is too small to normalise by: normalised values are written as null{pairs}. Use pairs whose corrupted prompt changes the answer.";
    }
}
