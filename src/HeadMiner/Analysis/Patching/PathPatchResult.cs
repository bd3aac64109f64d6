namespace HeadMiner.Analysis.Patching;

/// <summary>
/// The metric after path patching one sender to the receivers. Sign convention: the base run is clean and the sender
/// carries its corrupted output along the path only, so <see cref="Normalized"/> = (patched − corrupted) / (clean −
/// corrupted) is 1 when the path does not matter and 0 when this path alone reproduces the corrupted behaviour;
/// <see cref="Effect"/> = 1 − Normalized is the fraction of the clean→corrupted change the path carries.
/// Normalized is NaN when the clean and corrupted metrics are equal (nothing to explain).
/// </summary>
public sealed record PathPatchResult(int SenderLayer, int SenderHead, double Patched, double Normalized)
{
    /// <summary>1 − <see cref="Normalized"/>: 0 = the path carries nothing, 1 = it carries the whole clean→corrupted change.</summary>
    public double Effect => 1 - Normalized;
}

/// <summary>
/// Path patching of every sender head that can reach the receivers (the layers below the earliest receiver; every
/// layer for the logits). <see cref="Normalized"/> and <see cref="Patched"/> are [layers, heads] and NaN where a
/// head cannot be a sender.
/// </summary>
public sealed record PathPatchSweep(
    PathReceivers Receivers,
    string MetricName,
    double CleanMetric,
    double CorruptedMetric,
    IReadOnlyList<PathPatchResult> Results,
    double[,] Patched,
    double[,] Normalized)
{
    /// <summary>[layer, head] → the patched metric per pair (null where the head is not a sender); <see cref="Patched"/> is its mean.</summary>
    public double[,][]? PatchedPerPair { get; init; }

    /// <summary>The clean metric per pair.</summary>
    public double[]? CleanPerPair { get; init; }
}
