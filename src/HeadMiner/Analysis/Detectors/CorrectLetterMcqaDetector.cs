namespace HeadMiner.Analysis.Detectors;

/// <summary>
/// Correct-letter MCQA heads (Lieberum et al. 2023): from the answer position they attend to the letter of the right
/// option, which moves from prompt to prompt. Score = mean over prompts of A[END, correct] − mean of A[END, other
/// letters] (1 = all attention on the right letter; 0 for even or answer-blind attention).
/// </summary>
public sealed class CorrectLetterMcqaDetector : ICausalDetector
{
    public string Id => "correct_letter_mcqa";

    public string Description =>
        "MCQA: attends from END to the correct option's letter; score = mean over prompts of attention END→correct letter − mean attention END→other letters";

    public DetectorKind Kind => DetectorKind.Task;

    public string? CannotRun(DetectorContext context) => TaskPrompts.CannotRun(context, McqaLetterStats.Generator);

    public DetectorResult Run(DetectorContext context, IProgress<double>? progress = null, CancellationToken cancel = default)
    {
        var stats = McqaLetterStats.Compute(context, Id, progress, cancel);
        var scores = new double[stats.Heads];
        var perPrompt = stats.Letters.Select(_ => new double[stats.Heads]).ToArray();
        for (int p = 0; p < stats.Letters.Length; p++)
            for (int k = 0; k < stats.Heads; k++)
            {
                var a = stats.Letters[p][k];
                int c = stats.Correct[p];
                double others = (a.Sum() - a[c]) / 3;
                scores[k] += (a[c] - others) / stats.Letters.Length;
                perPrompt[p][k] = a[c] - others;
            }
        return TaskResult.Create(Id, context, scores,
            (0.3f, "0.3: the right letter gets 0.3 more attention than each wrong one; answer-blind heads average ~0 because the right letter cycles A–D"),
            stats.Summary, stats.Notes(), baseline: 0, samples: ScoreSamples.Mean("prompts", perPrompt, grows: true));
    }

    public CausalTask? CausalTask(DetectorContext context) => McqaLetterStats.Task(context, this);
}
