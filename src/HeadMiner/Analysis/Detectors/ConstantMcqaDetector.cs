namespace HeadMiner.Analysis.Detectors;

/// <summary>
/// Constant MCQA heads: from the answer position they attend to all option letters alike, whatever the question —
/// they gather "the options are A, B, C, D". Per prompt, with a_i = A[END, letter i] and m = Σ a_i, evenness
/// E = entropy(a/m) / ln 4; score = mean over prompts of m·E (letter mass spread evenly: 1 only for attention
/// split equally over the four letters).
/// </summary>
public sealed class ConstantMcqaDetector : ICausalDetector
{
    public string Id => "constant_mcqa";

    public string Description =>
        "MCQA: attends from END evenly over the four option letters; score = mean over prompts of (attention mass on the letters) × (entropy of its split / ln 4)";

    public DetectorKind Kind => DetectorKind.Task;

    public string? CannotRun(DetectorContext context) => TaskPrompts.CannotRun(context, McqaLetterStats.Generator);

    public DetectorResult Run(DetectorContext context, IProgress<double>? progress = null, CancellationToken cancel = default)
    {
        var stats = McqaLetterStats.Compute(context, Id, progress, cancel);
        var scores = new double[stats.Heads];
        var evenness = new double[stats.Heads];
        for (int k = 0; k < stats.Heads; k++)
        {
            foreach (var prompt in stats.Letters)
            {
                double m = prompt[k].Sum(), e = Evenness(prompt[k]);
                scores[k] += m * e / stats.Letters.Length;
                evenness[k] += e / stats.Letters.Length;
            }
        }
        return TaskResult.Create(Id, context, scores,
            (0.4f, "0.4: e.g. over half the attention on the letters, split nearly evenly; a head spreading evenly over a ~30-token prompt puts ~4/30 on the letters and scores ~0.13"),
            k => $"{stats.Summary(k)}; letter mass {stats.MeanMass(k):0.000}, evenness {evenness[k]:0.000}",
            stats.Notes(), matrices: new Dictionary<string, double[]> { ["evenness"] = evenness },
            samples: ScoreSamples.Mean("prompts", [.. stats.Letters.Select(p => p.Select(a => a.Sum() * Evenness(a)).ToArray())], grows: true));
    }

    /// <summary>Entropy of the letters' shares over ln 4: 1 for an even split, 0 for one letter (0 when there is no mass).</summary>
    public static double Evenness(ReadOnlySpan<float> letters)
    {
        double m = 0;
        foreach (float a in letters) m += a;
        if (m <= 0) return 0;
        double h = 0;
        foreach (float a in letters)
            if (a > 0) h -= a / m * Math.Log(a / m);
        return h / Math.Log(letters.Length);
    }

    public CausalTask? CausalTask(DetectorContext context) => McqaLetterStats.Task(context, this);
}
