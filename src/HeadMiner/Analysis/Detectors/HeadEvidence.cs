namespace HeadMiner.Analysis.Detectors;

/// <summary>
/// Why a head got its score, in a form a reader can check: a short line (the score's parts, a baseline) and, for
/// pattern detectors, the strongest attention entries of an example prompt.
/// </summary>
public sealed record HeadEvidence(int Layer, int Head, string Summary, IReadOnlyList<AttentionExample> Examples)
{
    public HeadEvidence(int layer, int head, string summary) : this(layer, head, summary, []) { }
}
