using HeadMiner.Models;
using HeadMiner.Tensors;

namespace HeadMiner.Analysis.Detectors;

/// <summary>
/// A detector's verdict on every head. <see cref="Scores"/> is [layers, query heads]; NaN marks a head the
/// detector cannot score (e.g. layer-0 heads have no earlier head to compose with). A head is labelled with the
/// type when its score exceeds <see cref="Threshold"/> (<see cref="ThresholdReason"/> says why that value) — and,
/// once <see cref="DetectorRunner"/> has attached bootstrap intervals, only when the interval's lower bound does.
/// </summary>
public sealed record DetectorResult
{
    public required string DetectorId { get; init; }

    /// <summary>[layers, heads].</summary>
    public required Tensor Scores { get; init; }

    public required float Threshold { get; init; }
    public required string ThresholdReason { get; init; }

    /// <summary>One entry per head, layer-major.</summary>
    public required IReadOnlyList<HeadEvidence> Evidence { get; init; }

    /// <summary>The weight processing of the model the scores came from (weight scores depend on it).</summary>
    public required WeightProcessing Processing { get; init; }

    /// <summary>What the numbers mean beyond the description: prompts used, BOS handling, baselines.</summary>
    public IReadOnlyList<string> Notes { get; init; } = [];

    /// <summary>What a head scores by chance (random weights, uniform attention), when the detector defines one.</summary>
    public double? Baseline { get; init; }

    /// <summary>
    /// Further matrices a detector produces, by name: e.g. the induction detector's "offset" scores [layers, heads],
    /// the composition detector's "q_composition"/"k_composition"/"v_composition" [layers, heads, layers, heads].
    /// </summary>
    public IReadOnlyDictionary<string, Tensor> Matrices { get; init; } = new Dictionary<string, Tensor>();

    /// <summary>The units the scores are computed from, for bootstrap intervals (null: the score is a function of the weights alone, or not decomposable).</summary>
    public ScoreSamples? Samples { get; init; }

    /// <summary>[layers, heads] 95% bootstrap bounds, attached by <see cref="DetectorRunner"/> (null until then, or without <see cref="Samples"/>).</summary>
    public Tensor? Low { get; init; }

    /// <summary>See <see cref="Low"/>.</summary>
    public Tensor? High { get; init; }

    /// <summary>How the prompt count was settled (<see cref="DetectorRunner"/>), e.g. "decided at 32 prompts".</summary>
    public string? Sampling { get; init; }

    public int Layers => Scores.Dim(0);
    public int Heads => Scores.Dim(1);

    public float Score(int layer, int head) => Scores[layer, head];

    public HeadEvidence EvidenceFor(int layer, int head) => Evidence[layer * Heads + head];

    /// <summary>Every scored head, best first (NaN scores left out; ties in layer-major order).</summary>
    public IReadOnlyList<(int Layer, int Head, float Score)> Ranked()
    {
        var list = new List<(int, int, float)>();
        for (int l = 0; l < Layers; l++)
            for (int h = 0; h < Heads; h++)
                if (!float.IsNaN(Scores[l, h])) list.Add((l, h, Scores[l, h]));
        return [.. list.OrderByDescending(x => x.Item3)];
    }

    /// <summary>The 95% interval of a head's score: the bootstrap bounds when attached, else the score itself (exact scores, or none computed yet).</summary>
    public (float Low, float High) Interval(int layer, int head) =>
        Low is not null && High is not null ? (Low[layer, head], High[layer, head]) : (Scores[layer, head], Scores[layer, head]);

    /// <summary>Whether a head carries the label: its interval's lower bound (its score when exact) is above the threshold.</summary>
    public bool IsLabelled(int layer, int head) => Interval(layer, head).Low > Threshold;

    /// <summary>Whether the threshold lies inside a head's interval, so more units could still decide it either way.</summary>
    public bool IsUndecided(int layer, int head)
    {
        var (low, high) = Interval(layer, head);
        return !(low > Threshold) && high > Threshold;
    }

    /// <summary>The heads labelled with this type (<see cref="IsLabelled"/>), best first.</summary>
    public IReadOnlyList<(int Layer, int Head, float Score)> Labelled() => [.. Ranked().Where(x => IsLabelled(x.Layer, x.Head))];

    /// <summary>Heads whose interval straddles the threshold.</summary>
    public IReadOnlyList<(int Layer, int Head, float Score)> Undecided() => [.. Ranked().Where(x => IsUndecided(x.Layer, x.Head))];
}
