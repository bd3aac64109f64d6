namespace HeadMiner.Analysis.Attribution;

/// <summary>
/// One edge of the residual-stream graph: what <paramref name="Sender"/> writes, read by <paramref name="Receiver"/>.
/// Senders: "embed", "a{l}.h{h}" (a head's output z·W_O), "mlp{l}". Receivers: "a{l}.h{h}.q", "a{l}.h{g}.k" /
/// ".v" (k/v heads: under grouped-query attention one k/v head serves several query heads), "mlp{l}", "logits".
/// <paramref name="Score"/> is the estimated change of the metric; <paramref name="Normalized"/> divides it by
/// (clean − corrupted).
/// </summary>
public sealed record AttributionEdge(string Sender, string Receiver, double Score, double Normalized);

/// <summary>Edge attribution patching over every sender → later receiver, ranked by |score|.</summary>
public sealed record EdgeAttributionResult(
    string Metric,
    double CleanMetric,
    double CorruptedMetric,
    IReadOnlyList<AttributionEdge> Edges,
    string WeightProcessing);
