using HeadMiner.Analysis.Patching;
using HeadMiner.Tasks;

namespace HeadMiner.Analysis.Detectors;

/// <summary>
/// S-inhibition heads (IOI): at END they move "S is repeated" into the name movers' queries, steering them away from
/// the subject. Path patching (Wang et al. 2023) with the ABC prompts as corrupted input: the sender's output is
/// replaced by its corrupted value and only the name movers' query inputs see the change, through the MLPs on the way
/// (recomputed, as in the paper; the other heads frozen). Score = clean logit
/// difference − patched logit difference (the drop; positive when the head's message to the name movers helps).
/// The name movers are the <see cref="NameMoverCount"/> best heads of <see cref="NameMoverDetector"/>'s score in
/// layers ≥ 1, so that some heads can send to them.
/// </summary>
public sealed class SInhibitionDetector : ICausalDetector
{
    public const int NameMoverCount = 3;

    /// <summary>Most IOI prompts path-patched: the sweep runs two passes per sender head, the costliest detector by far.</summary>
    public const int MaxPrompts = 8;

    public string Id => "s_inhibition";

    public string Description =>
        "IOI: tells the name movers which name is repeated; score = drop of logit[IO] − logit[S] when path patching the head (ABC corrupted) into the name movers' queries";

    public DetectorKind Kind => DetectorKind.Task;

    public string? CannotRun(DetectorContext context) => context.Config.Layers < 2
        ? "needs at least 2 layers (senders below the name movers)"
        : TaskPrompts.CannotRun(context, IoiHeadStats.Generator);

    public DetectorResult Run(DetectorContext context, IProgress<double>? progress = null, CancellationToken cancel = default)
    {
        if (CannotRun(context) is { } reason) throw new HeadMinerException($"{Id}: {reason}");
        var stats = IoiHeadStats.Compute(context, Id, null, cancel, Math.Min(context.Options.Prompts, MaxPrompts));
        int L = context.Config.Layers, H = context.Config.Heads;
        var movers = Enumerable.Range(H, (L - 1) * H)
            .OrderByDescending(k => stats.Dla[k] * stats.AttentionIo[k]).ThenBy(k => k).Take(NameMoverCount).ToArray();
        var receivers = PathReceivers.Of(movers.Select(k => ReceiverInput.Create(context.Config, k / H, k % H, HeadInput.Query)));
        // Path patching needs one batch of equal-length pairs: the largest length group (IOI sets have one length).
        var group = stats.Set.LengthGroups().OrderByDescending(g => g.Length).First();
        cancel.ThrowIfCancellationRequested();
        // The MLPs are on the paths (recomputed), as in the IOI paper and TaskCircuitTruth: freezing them counted only
        // the sender's direct write into the queries, and on the retrained embedded model that hid a head whose message
        // reaches the name movers through the MLPs (L0H1: a drop of 0.21 logit with them frozen, 2.5 with them on the path).
        var patching = new PathPatching(context.Model, new Metric(MetricKind.LogitDiff, stats.Set.Pairs(group))) { MlpsOnPath = true };
        var sweep = patching.Sweep(receivers);
        progress?.Report(1);
        var scores = new double[L * H];
        for (int l = 0; l < L; l++)
            for (int h = 0; h < H; h++) scores[l * H + h] = patching.CleanMetric - sweep.Patched[l, h];
        string movedTo = string.Join(", ", movers.Select(k => $"{k / H}.{k % H}"));
        return TaskResult.Create(Id, context, scores,
            (0.15f, "a drop of 0.15 logit in IO − S through the name movers' queries alone (clean − corrupted IOI logit differences are several logits in trained models; 0.1 until the MLPs were put on the path, when 3 of 2,028 null heads reached it: null FPR ≤ 0.001 needs 0.14)"),
            k => double.IsNaN(scores[k])
                ? "not a sender: its layer is not below every name mover"
                : $"logit diff {patching.CleanMetric:0.000} clean → {sweep.Patched[k / H, k % H]:0.000} patched into {movedTo}:q (drop {scores[k]:+0.000;-0.000})",
            [
                $"{group.Length} IOI prompts (at most {MaxPrompts}) of {stats.Set.Prompts[group[0]].Clean.Length} tokens ({stats.Set.Description})",
                $"receivers: the queries of the name movers {movedTo} (top {NameMoverCount} name_mover scores in layers ≥ 1)",
                $"clean logit diff {patching.CleanMetric:0.000}, corrupted (ABC) {patching.CorruptedMetric:0.000}; heads in or above the first name mover's layer are NaN",
            ], baseline: 0,
            samples: ScoreSamples.Mean("prompts", [.. Enumerable.Range(0, group.Length).Select(p => Enumerable.Range(0, L * H)
                .Select(k => sweep.PatchedPerPair![k / H, k % H] is { } perPair ? sweep.CleanPerPair![p] - perPair[p] : double.NaN).ToArray())], grows: false));
    }

    public CausalTask? CausalTask(DetectorContext context) => CannotRun(context) is null
        ? TaskPrompts.Build(context, IoiHeadStats.Generator, context.Options.Prompts, Id).LogitDiffTask("IO")
        : null;
}
