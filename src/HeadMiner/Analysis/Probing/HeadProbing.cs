using HeadMiner.Hooks;
using HeadMiner.Models;
using HeadMiner.Tensors;

namespace HeadMiner.Analysis.Probing;

/// <summary>How <see cref="HeadProbing.Run"/> splits, regularises and reads the data.</summary>
public sealed record ProbeOptions
{
    /// <summary>Share of examples held out for validation (after a seeded shuffle).</summary>
    public double ValidationFraction { get; init; } = 0.3;

    /// <summary>L2 penalty on the standardised probe weights (λ·|w|²/2 against the summed log-loss).</summary>
    public double Lambda { get; init; } = 1.0;

    public ulong Seed { get; init; } = 1;

    /// <summary>Which token's hook_z is probed, counted from the end: 1 = the last token of each prompt.</summary>
    public int PositionFromEnd { get; init; } = 1;
}

/// <summary>
/// Per-head probe results. <see cref="Directions"/> [layer, head, d_head] are the unit mass-mean directions
/// (mean of label-1 activations − mean of label-0 activations, training split), the direction Inference-Time
/// Intervention steers along; <see cref="DirectionStd"/> is the standard deviation of the training activations'
/// projection on it (the steering unit).
/// </summary>
public sealed record HeadProbeResult(Tensor ValidationAccuracy, Tensor TrainAccuracy, Tensor Directions, Tensor DirectionStd,
    int TrainCount, int ValidationCount, ProbeOptions Options);

/// <summary>
/// Inference-Time-Intervention-style probing: one logistic-regression probe per attention head on its hook_z at one
/// position, trained on a seeded training split of a labelled prompt set and scored on the held-out rest; the result
/// is a layers × heads accuracy map plus each head's mass-mean direction for steering.
/// </summary>
public static class HeadProbing
{
    private const int PromptsPerBatch = 64;

    /// <summary>
    /// Fits one probe per head. <paramref name="progress"/> hears the fraction done: the forwards that collect hook_z
    /// count for the first half, the per-head fits for the second.
    /// </summary>
    public static HeadProbeResult Run(Transformer model, int[][] prompts, int[] labels, ProbeOptions? options = null, CancellationToken cancel = default,
        IProgress<double>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        var o = options ?? new ProbeOptions();
        if (prompts.Length != labels.Length) throw new HeadMinerException($"{prompts.Length} prompts but {labels.Length} labels");
        if (o.ValidationFraction is <= 0 or >= 1) throw new HeadMinerException($"validation fraction {o.ValidationFraction} must be between 0 and 1");
        if (o.Lambda <= 0) throw new HeadMinerException($"L2 penalty {o.Lambda} must be positive");
        if (o.PositionFromEnd < 1) throw new HeadMinerException($"position {o.PositionFromEnd} from the end must be ≥ 1 (1 = last token)");
        for (int i = 0; i < prompts.Length; i++)
            if (prompts[i].Length < o.PositionFromEnd) throw new HeadMinerException($"prompt {i} has {prompts[i].Length} tokens; probing position {o.PositionFromEnd} from the end needs more");

        var order = Enumerable.Range(0, prompts.Length).ToArray();
        new SeededRandom(o.Seed).Shuffle(order.AsSpan());
        int validation = (int)Math.Round(prompts.Length * o.ValidationFraction);
        var valIdx = order[..validation];
        var trainIdx = order[validation..];
        foreach (var (name, split) in new[] { ("training", trainIdx), ("validation", valIdx) })
            if (split.Select(i => labels[i]).Distinct().Count() < 2)
                throw new HeadMinerException($"the {name} split ({split.Length} examples) does not hold both labels; add examples of each label");

        var c = model.Config;
        int L = c.Layers, H = c.Heads, dh = c.DHead;
        var features = Collect(model, prompts, o.PositionFromEnd, cancel, progress); // [layer][head][example] → d_head values
        var valAcc = Tensor.Zeros(L, H);
        var trainAcc = Tensor.Zeros(L, H);
        var directions = Tensor.Zeros(L, H, dh);
        var std = Tensor.Zeros(L, H);
        var trainLabels = trainIdx.Select(i => labels[i]).ToArray();
        var valLabels = valIdx.Select(i => labels[i]).ToArray();
        for (int l = 0; l < L; l++)
            for (int h = 0; h < H; h++)
            {
                cancel.ThrowIfCancellationRequested();
                var x = features[l][h];
                var trainX = trainIdx.Select(i => x[i]).ToArray();
                var probe = LogisticProbe.Fit(trainX, trainLabels, o.Lambda);
                trainAcc[l, h] = (float)probe.Accuracy(trainX, trainLabels);
                valAcc[l, h] = (float)probe.Accuracy(valIdx.Select(i => x[i]).ToArray(), valLabels);
                var (direction, sigma) = MassMean(trainX, trainLabels);
                for (int j = 0; j < dh; j++) directions[l, h, j] = (float)direction[j];
                std[l, h] = (float)sigma;
                progress?.Report(0.5 + 0.5 * (l * H + h + 1) / (L * H));
            }
        return new HeadProbeResult(valAcc, trainAcc, directions, std, trainIdx.Length, valIdx.Length, o);
    }

    /// <summary>Unit (mean₁ − mean₀) and the standard deviation of the rows' projections on it.</summary>
    private static (double[] Direction, double Std) MassMean(double[][] x, int[] labels)
    {
        int f = x[0].Length;
        var m1 = new double[f];
        var m0 = new double[f];
        int n1 = 0, n0 = 0;
        for (int i = 0; i < x.Length; i++)
        {
            var target = labels[i] == 1 ? m1 : m0;
            for (int j = 0; j < f; j++) target[j] += x[i][j];
            if (labels[i] == 1) n1++; else n0++;
        }
        var d = new double[f];
        for (int j = 0; j < f; j++) d[j] = m1[j] / n1 - m0[j] / n0;
        double norm = Math.Sqrt(d.Sum(v => v * v));
        if (norm == 0) return (d, 0);
        for (int j = 0; j < f; j++) d[j] /= norm;
        var projections = x.Select(row => row.Select((v, j) => v * d[j]).Sum()).ToArray();
        double mean = projections.Average();
        return (d, Math.Sqrt(projections.Sum(p => (p - mean) * (p - mean)) / projections.Length));
    }

    /// <summary>hook_z of every head at the probed position of every prompt (left-padded batches).</summary>
    private static double[][][][] Collect(Transformer model, int[][] prompts, int positionFromEnd, CancellationToken cancel, IProgress<double>? progress)
    {
        var c = model.Config;
        int L = c.Layers, H = c.Heads, dh = c.DHead;
        var result = new double[L][][][];
        for (int l = 0; l < L; l++)
        {
            result[l] = new double[H][][];
            for (int h = 0; h < H; h++) result[l][h] = new double[prompts.Length][];
        }
        for (int start = 0; start < prompts.Length; start += PromptsPerBatch)
        {
            cancel.ThrowIfCancellationRequested();
            var chunk = prompts.AsSpan(start, Math.Min(PromptsPerBatch, prompts.Length - start)).ToArray();
            var batch = TokenBatch.LeftPadded(chunk, padId: 0);
            model.CheckLength(batch.Length);
            var (_, cache) = model.RunWithCache(batch, CacheFilter.Where(n => n.Site == ActivationSite.Z), lastOnly: true);
            int t = batch.Length - positionFromEnd; // left padding: every prompt ends at the last column
            for (int l = 0; l < L; l++)
            {
                var z = cache[ActivationSite.Z, l];
                for (int b = 0; b < chunk.Length; b++)
                    for (int h = 0; h < H; h++)
                    {
                        var row = new double[dh];
                        for (int j = 0; j < dh; j++) row[j] = z[b, t, h, j];
                        result[l][h][start + b] = row;
                    }
            }
            progress?.Report(0.5 * (start + chunk.Length) / prompts.Length);
        }
        return result;
    }
}
