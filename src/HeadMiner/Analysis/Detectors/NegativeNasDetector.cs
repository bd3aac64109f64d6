using HeadMiner.Analysis.Calibration;
using HeadMiner.Tasks.Sets;

namespace HeadMiner.Analysis.Detectors;

/// <summary>
/// Negative heads (Yu et al. 2024): on binary questions that show " Yes or No?" they attend to " No" far more than to
/// " Yes", biasing the answer to No. Negative Attention Score of HEAD-MINING.md, per prompt
/// NAS = Σ_i (A[i, Yes] + A[i, No]) · ln((A[i, No] + ε) / (A[i, Yes] + ε)) over the query rows i after " No" up to END
/// (the "?", " Answer", ":" rows that produce the answer); score = mean over prompts. ε = 1e-6 keeps the log finite.
/// </summary>
public sealed class NegativeNasDetector : ICausalDetector
{
    private static readonly TaskSetGenerator Generator = new YesNoSet();
    public const double Epsilon = 1e-6;

    public string Id => "negative_nas";

    public string Description =>
        "Yes/No questions: attends to \" No\" over \" Yes\"; score = Negative Attention Score Σ_i (A[i,Yes] + A[i,No])·ln(A[i,No]/A[i,Yes]) over the rows after \" No\", mean over prompts";

    public DetectorKind Kind => DetectorKind.Task;

    public string? CannotRun(DetectorContext context) => TaskPrompts.CannotRun(context, Generator);

    public DetectorResult Run(DetectorContext context, IProgress<double>? progress = null, CancellationToken cancel = default)
    {
        var set = TaskPrompts.Build(context, Generator, context.Options.Prompts, Id);
        var rows = set.AttentionRows(context, p => [.. Enumerable.Range(p.Position("NO") + 1, p.Position("END") - p.Position("NO"))], progress, cancel);
        int heads = context.Config.Layers * context.Config.Heads, n = set.Count;
        var scores = new double[heads];
        var yes = new double[heads];
        var no = new double[heads];
        var perPrompt = new double[n][];
        for (int p = 0; p < n; p++)
        {
            int y = set.Prompts[p].Position("YES"), o = set.Prompts[p].Position("NO");
            perPrompt[p] = new double[heads];
            for (int k = 0; k < heads; k++)
                foreach (var row in rows[p][k])
                {
                    scores[k] += Nas(row[y], row[o]) / n;
                    perPrompt[p][k] += Nas(row[y], row[o]);
                    yes[k] += row[y] / (n * rows[p][k].Length);
                    no[k] += row[o] / (n * rows[p][k].Length);
                }
        }
        return TaskResult.Create(Id, context, scores,
            (13f, "13: the log ratio is unbounded, so untrained heads that ignore \" Yes\" and attend a little to \" No\" score up to 12.9 (the reasoned 1.0 — one row with 0.5 on \" No\", 0.05 on \" Yes\" — labelled 3.6% of untrained heads); 13 ≈ every answer row with ~0.8 on \" No\" and ~1e-6 on \" Yes\" (calibrated, docs/DETECTORS.md)"),
            k => $"NAS {scores[k]:+0.000;-0.000}; mean attention on \" Yes\" {yes[k]:0.000}, on \" No\" {no[k]:0.000} (rows after \" No\")",
            [
                $"{n} yes/no prompts ({set.Description})",
                $"rows: every query position after \" No\" up to END; ε = {Epsilon:g} inside the log",
                "matrices: attention_yes, attention_no (mean per row)",
            ], baseline: 0, new Dictionary<string, double[]> { ["attention_yes"] = yes, ["attention_no"] = no },
            ScoreSamples.Mean("prompts", perPrompt, grows: true));
    }

    /// <summary>One row's term: (yes + no)·ln((no + ε)/(yes + ε)).</summary>
    public static double Nas(double yes, double no) => (yes + no) * Math.Log((no + Epsilon) / (yes + Epsilon));

    /// <summary>logit[right answer] − logit[other answer] of the yes/no questions (negative heads pull it towards No).</summary>
    public CausalTask? CausalTask(DetectorContext context) => CannotRun(context) is null
        ? TaskPrompts.Build(context, Generator, context.Options.Prompts, Id).LogitDiffTask("right answer")
        : null;
}
