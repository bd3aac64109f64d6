namespace HeadMiner.Analysis.Detectors;

/// <summary>
/// Name mover heads (IOI, Wang et al. 2023): at END they attend to the indirect object and copy it into the logits.
/// Score = mean DLA of the head at END to logit[IO] − logit[S] (logit units) × mean attention END → IO: a head scores
/// high only when it both attends to IO and its output pushes IO over S.
/// </summary>
public sealed class NameMoverDetector : ICausalDetector
{
    public string Id => "name_mover";

    public string Description =>
        "IOI: attends from END to the indirect object and raises it over the subject; score = mean DLA at END to logit[IO] − logit[S] × mean attention END→IO";

    public DetectorKind Kind => DetectorKind.Task;

    public string? CannotRun(DetectorContext context) => TaskPrompts.CannotRun(context, IoiHeadStats.Generator);

    public DetectorResult Run(DetectorContext context, IProgress<double>? progress = null, CancellationToken cancel = default)
    {
        var stats = IoiHeadStats.Compute(context, Id, progress, cancel);
        var scores = stats.Dla.Select((d, k) => d * stats.AttentionIo[k]).ToArray();
        return TaskResult.Create(Id, context, scores,
            (0.1f, "0.1 logit: e.g. half the head's attention on IO while it adds 0.2 to the IO − S logit difference; random heads score near 0 (attention ~1/T, DLA of either sign)"),
            stats.Summary, Notes(stats), baseline: 0,
            new Dictionary<string, double[]> { ["dla"] = stats.Dla, ["attention_io"] = stats.AttentionIo }, stats.Samples(1));
    }

    internal static IReadOnlyList<string> Notes(IoiHeadStats stats) =>
    [
        $"{stats.Set.Count} IOI prompts ({stats.Set.Description})",
        "DLA: the head's output at END through the final LayerNorm (scale cached from the run) onto W_U[IO] − W_U[S]; the heads' terms plus the rest sum to the logit difference",
        "matrices: dla (mean DLA), attention_io (mean attention END→IO)",
    ];

    public CausalTask? CausalTask(DetectorContext context) => CannotRun(context) is null
        ? TaskPrompts.Build(context, IoiHeadStats.Generator, context.Options.Prompts, Id).LogitDiffTask("IO")
        : null;
}
