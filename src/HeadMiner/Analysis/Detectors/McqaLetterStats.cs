using HeadMiner.Tasks.Sets;

namespace HeadMiner.Analysis.Detectors;

/// <summary>
/// What the three MCQA detectors read (Lieberum et al. 2023; Tulchinskii et al. 2024): on MCQA letter prompts
/// ("…\nA. dog\nB. apple\nC. red\nD. car\nAnswer:"), the attention of every head from END to the four option
/// letters. Letters[p][layer·H + head][i] = A_p[END, letter i]; Correct[p] = the right letter's index.
/// </summary>
public sealed record McqaLetterStats(TaskPrompts Set, float[][][] Letters, int[] Correct)
{
    public static readonly TaskSetGenerator Generator = new McqaSet();
    public static readonly string[] Names = ["A", "B", "C", "D"];

    public static McqaLetterStats Compute(DetectorContext context, string detectorId, IProgress<double>? progress = null, CancellationToken cancel = default)
    {
        var set = TaskPrompts.Build(context, Generator, context.Options.Prompts, detectorId);
        var rows = set.AttentionRows(context, p => [p.Position("END")], progress, cancel);
        int heads = context.Config.Layers * context.Config.Heads;
        var letters = new float[set.Count][][];
        var correct = new int[set.Count];
        for (int p = 0; p < set.Count; p++)
        {
            var prompt = set.Prompts[p];
            var at = Names.Select(prompt.Position).ToArray();
            correct[p] = Array.IndexOf(at, prompt.Position("CORRECT"));
            letters[p] = new float[heads][];
            for (int k = 0; k < heads; k++) letters[p][k] = [.. at.Select(j => rows[p][k][0][j])];
        }
        return new McqaLetterStats(set, letters, correct);
    }

    public int Heads => Letters[0].Length;

    /// <summary>Mean attention END → letter i over the prompts.</summary>
    public double MeanOn(int head, int letter) => Letters.Average(p => (double)p[head][letter]);

    /// <summary>Mean attention END → the correct letter over the prompts.</summary>
    public double MeanOnCorrect(int head) => Enumerable.Range(0, Letters.Length).Average(p => (double)Letters[p][head][Correct[p]]);

    /// <summary>Mean attention END → all four letters together.</summary>
    public double MeanMass(int head) => Letters.Average(p => (double)p[head].Sum());

    public string Summary(int head) =>
        $"attention END→A/B/C/D {string.Join(" / ", Enumerable.Range(0, 4).Select(i => MeanOn(head, i).ToString("0.000", System.Globalization.CultureInfo.InvariantCulture)))}, on the correct letter {MeanOnCorrect(head):0.000}";

    public IReadOnlyList<string> Notes() =>
    [
        $"{Set.Count} MCQA prompts ({Set.Description}); the correct letter cycles A–D, so a head's attention to a fixed letter and to the correct one can be told apart",
        "attention is read from END (the token after \"Answer\") to the tokens of the option letters",
    ];

    /// <summary>logit[correct letter] − mean logit of the other three letters at END, mean over the prompts.</summary>
    public static CausalTask? Task(DetectorContext context, IHeadDetector detector)
    {
        if (detector.CannotRun(context) is not null) return null;
        var set = TaskPrompts.Build(context, Generator, context.Options.Prompts, detector.Id);
        // The four letter tokens as answers: the correct letter cycles A–D, so the answers cover them when there are ≥ 4 prompts.
        var letters = set.Prompts.Select(p => p.Answer).Concat(set.Prompts.Select(p => p.Wrong)).Distinct().ToArray();
        return new CausalTask($"logit[correct letter] − mean logit[other letters] at END ({set.Count} MCQA prompts)", HigherIsBetter: true,
            hooks => set.MeanAtLast(hooks, (p, row) =>
            {
                int right = set.Prompts[p].Answer;
                double others = 0;
                int count = 0;
                foreach (int id in letters)
                    if (id != right) { others += row[id]; count++; }
                return row[right] - (count > 0 ? others / count : 0);
            }))
        { Key = $"mcqa_letter_logit:{set.Count}" }; // the three MCQA detectors share it
    }
}
