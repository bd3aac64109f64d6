using HeadMiner.Tasks.Sets;

namespace HeadMiner.Analysis.Detectors;

/// <summary>
/// Letter mover heads (acronyms, García-Carrasco et al. 2024): at the last letter of a partial acronym ("The Central
/// Processing Unit (CP") they attend to the word whose initial comes next ("Unit") and write that initial into the
/// logits. Score = mean DLA of the head at END to logit[initial of W3] − logit[initial of the corrupted W3] (logit
/// units) × mean attention END → W3, as for name movers: a head scores high only when it both attends to the word and
/// its output raises its initial.
/// </summary>
public sealed class LetterMoverDetector : ICausalDetector
{
    public static readonly TaskSetGenerator Generator = new AcronymSet();

    public string Id => "letter_mover";

    public string Description =>
        "Acronyms: attends from the last letter to the word whose initial comes next and raises that letter; score = mean DLA at END to logit[initial] − logit[wrong initial] × mean attention END→W3";

    public DetectorKind Kind => DetectorKind.Task;

    public string? CannotRun(DetectorContext context) => TaskPrompts.CannotRun(context, Generator);

    public DetectorResult Run(DetectorContext context, IProgress<double>? progress = null, CancellationToken cancel = default)
    {
        var stats = MoverHeadStats.Compute(context, Generator, Id, ["W3", "W1", "W2"], progress: progress, cancel: cancel);
        var w3 = stats.Attention["W3"];
        var scores = stats.Dla.Select((d, k) => d * w3[k]).ToArray();
        return TaskResult.Create(Id, context, scores,
            (0.1f, "0.1 logit: e.g. half the head's attention on the next word while it adds 0.2 to the letter's logit difference; random heads score near 0 (attention ~1/T, DLA of either sign)"),
            k => $"DLA {stats.Dla[k]:+0.000;-0.000} (initial − wrong initial, logit units); attention END→W3 {w3[k]:0.000}, END→W1 {stats.Attention["W1"][k]:0.000}, END→W2 {stats.Attention["W2"][k]:0.000}",
            [
                $"{stats.Set.Count} acronym prompts ({stats.Set.Description})",
                "DLA: the head's output at END through the final LayerNorm (scale cached from the run) onto W_U[initial of W3] − W_U[initial of the corrupted W3]",
                "matrices: dla (mean DLA), attention_w3 (mean attention END→W3, the word whose initial comes next), attention_w1, attention_w2 (the words already abbreviated)",
            ],
            baseline: 0,
            new Dictionary<string, double[]> { ["dla"] = stats.Dla, ["attention_w3"] = w3, ["attention_w1"] = stats.Attention["W1"], ["attention_w2"] = stats.Attention["W2"] },
            stats.Samples(1, "W3"));
    }

    public CausalTask? CausalTask(DetectorContext context) => CannotRun(context) is null
        ? TaskPrompts.Build(context, Generator, context.Options.Prompts, Id).LogitDiffTask("initial of W3")
        : null;
}
