using HeadMiner.Analysis.Calibration;
namespace HeadMiner.Analysis.Detectors;

/// <summary>
/// Single-letter MCQA heads: from the answer position they attend to one fixed option letter whatever the right
/// answer is. Score = max over letters i of mean_p A_p[END, i] − mean_p A_p[END, correct]. The correct letter
/// cycles A–D, so a head fixed on one letter with weight w scores ~0.75·w, a correct-letter head ~−0.75·w and an
/// even (constant) head ~0.
/// </summary>
public sealed class SingleLetterMcqaDetector : ICausalDetector
{
    public string Id => "single_letter_mcqa";

    public string Description =>
        "MCQA: attends from END to one fixed option letter regardless of the answer; score = max_i mean attention END→letter i − mean attention END→correct letter";

    public DetectorKind Kind => DetectorKind.Task;

    public string? CannotRun(DetectorContext context) => TaskPrompts.CannotRun(context, McqaLetterStats.Generator);

    public DetectorResult Run(DetectorContext context, IProgress<double>? progress = null, CancellationToken cancel = default)
    {
        var stats = McqaLetterStats.Compute(context, Id, progress, cancel);
        var scores = new double[stats.Heads];
        var favourite = new int[stats.Heads];
        for (int k = 0; k < stats.Heads; k++)
        {
            favourite[k] = Enumerable.Range(0, 4).MaxBy(i => stats.MeanOn(k, i));
            scores[k] = stats.MeanOn(k, favourite[k]) - stats.MeanOnCorrect(k);
        }
        return TaskResult.Create(Id, context, scores,
            (0.6f, "0.6: about 0.8 of the END attention held on one letter (0.75 × 0.8) whichever letter is right; the reasoned 0.3 let untrained heads with peaked attention through (null max 0.56; calibrated, docs/DETECTORS.md)"),
            k => $"{stats.Summary(k)}; favourite letter {McqaLetterStats.Names[favourite[k]]}",
            stats.Notes(), baseline: 0,
            // Each head's favourite letter is fixed from the full set; a resample reweights the prompts.
            samples: ScoreSamples.Mean("prompts", [.. stats.Letters.Select((p, i) => Enumerable.Range(0, stats.Heads)
                .Select(k => (double)p[k][favourite[k]] - p[k][stats.Correct[i]]).ToArray())], grows: true));
    }

    public CausalTask? CausalTask(DetectorContext context) => McqaLetterStats.Task(context, this);
}
