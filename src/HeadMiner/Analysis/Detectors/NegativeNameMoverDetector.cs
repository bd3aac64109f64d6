namespace HeadMiner.Analysis.Detectors;

/// <summary>
/// Negative name mover heads (IOI): they attend to the indirect object like name movers but write against it,
/// lowering logit[IO] − logit[S]. Score = −(mean DLA at END to logit[IO] − logit[S]) × mean attention END → IO.
/// </summary>
public sealed class NegativeNameMoverDetector : ICausalDetector
{
    public string Id => "negative_name_mover";

    public string Description =>
        "IOI: attends from END to the indirect object and lowers it against the subject; score = −mean DLA at END to logit[IO] − logit[S] × mean attention END→IO";

    public DetectorKind Kind => DetectorKind.Task;

    public string? CannotRun(DetectorContext context) => TaskPrompts.CannotRun(context, IoiHeadStats.Generator);

    public DetectorResult Run(DetectorContext context, IProgress<double>? progress = null, CancellationToken cancel = default)
    {
        var stats = IoiHeadStats.Compute(context, Id, progress, cancel);
        var scores = stats.Dla.Select((d, k) => -d * stats.AttentionIo[k]).ToArray();
        return TaskResult.Create(Id, context, scores,
            (0.1f, "0.1 logit, the name mover threshold with the sign turned: half the attention on IO while taking 0.2 off the IO − S logit difference"),
            stats.Summary, NameMoverDetector.Notes(stats), baseline: 0,
            new Dictionary<string, double[]> { ["dla"] = stats.Dla, ["attention_io"] = stats.AttentionIo }, stats.Samples(-1));
    }

    /// <summary>The IOI logit difference: negative name movers hold it down, so ablating them should raise it.</summary>
    public CausalTask? CausalTask(DetectorContext context) => CannotRun(context) is null
        ? TaskPrompts.Build(context, IoiHeadStats.Generator, context.Options.Prompts, Id).LogitDiffTask("IO")
        : null;
}
