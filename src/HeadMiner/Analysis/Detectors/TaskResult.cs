using HeadMiner.Analysis.Calibration;
using HeadMiner.Tensors;

namespace HeadMiner.Analysis.Detectors;

/// <summary>Assembles a task detector's <see cref="DetectorResult"/> from layer-major per-head scores and summaries.</summary>
public static class TaskResult
{
    public static DetectorResult Create(string id, DetectorContext context, double[] scores, (float Value, string Reason) threshold,
        Func<int, string> summary, IReadOnlyList<string> notes, double? baseline = null, IReadOnlyDictionary<string, double[]>? matrices = null, ScoreSamples? samples = null)
    {
        int L = context.Config.Layers, H = context.Config.Heads;
        if (scores.Length != L * H) throw new ArgumentException($"{scores.Length} scores for {L}×{H} heads");
        var evidence = new List<HeadEvidence>(L * H);
        for (int l = 0; l < L; l++)
            for (int h = 0; h < H; h++) evidence.Add(new HeadEvidence(l, h, summary(l * H + h)));
        return new DetectorResult
        {
            DetectorId = id,
            Scores = ToTensor(scores, L, H),
            Threshold = threshold.Value,
            ThresholdReason = $"{threshold.Reason}; {NullDistribution.ThresholdNote(id, threshold.Value)}",
            Evidence = evidence,
            Processing = context.Model.Processing,
            Notes = notes,
            Baseline = baseline,
            Samples = samples,
            Matrices = matrices?.ToDictionary(m => m.Key, m => ToTensor(m.Value, L, H)) ?? new Dictionary<string, Tensor>(),
        };
    }

    private static Tensor ToTensor(double[] values, int layers, int heads)
    {
        var t = Tensor.Zeros(layers, heads);
        for (int l = 0; l < layers; l++)
            for (int h = 0; h < heads; h++) t[l, h] = (float)values[l * heads + h];
        return t;
    }
}
