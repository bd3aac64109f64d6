using HeadMiner.Models;
using HeadMiner.Tensors;

namespace HeadMiner.Analysis.Detectors;

/// <summary>
/// A detector's verdict on every head. <see cref="Scores"/> is [layers, query heads]; NaN marks a head the
/// detector cannot score (e.g. layer-0 heads have no earlier head to compose with). A head is labelled with the
/// type when its score exceeds <see cref="Threshold"/> (<see cref="ThresholdReason"/> says why that value).
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

    /// <summary>The heads labelled with this type (score above the threshold), best first.</summary>
    public IReadOnlyList<(int Layer, int Head, float Score)> Labelled() => [.. Ranked().Where(x => x.Score > Threshold)];
}
