using System.Globalization;
using HeadMiner.Analysis.Atlas;
using HeadMiner.Models.Formats;
using HeadMiner.Tensors;

namespace HeadMiner.Reports.Tables;

/// <summary>
/// The atlas's per-head scores for analysis outside HeadMiner: one table row per (detector, layer, head)
/// (atlas_scores.csv / .parquet: a pandas DataFrame in one line) and one [layers, heads] float32 matrix per detector
/// (atlas_scores.safetensors: <c>safetensors.numpy.load_file</c> gives a dict of arrays). Detectors that did not run
/// have no rows and no tensors. The same numbers as atlas.json (docs/ATLAS.md); a score the JSON writes as null is
/// an empty cell / null here and NaN in the tensors.
/// </summary>
public static class AtlasScores
{
    public static readonly IReadOnlyList<string> Header =
        ["detector", "head_type", "stage", "layer", "head", "score", "interval_low", "interval_high", "threshold", "labelled"];

    public static IEnumerable<IReadOnlyList<object?>> Rows(AtlasReport atlas)
    {
        var labelled = atlas.Heads.SelectMany(h => h.Labels.Select(l => (h.Layer, h.Head, l.Type))).ToHashSet();
        foreach (var d in atlas.Detectors)
        {
            if (d.Scores is not { } scores) continue;
            for (int l = 0; l < scores.Length; l++)
                for (int h = 0; h < scores[l].Length; h++)
                    yield return [d.Id, d.HeadType, d.Stage, l, h, scores[l][h], d.IntervalLow?[l][h], d.IntervalHigh?[l][h], d.Threshold,
                        d.HeadType is { } type && labelled.Contains((l, h, type))];
        }
    }

    /// <summary>
    /// Tensors <c>{detector}</c> (scores) and, where the atlas has intervals, <c>{detector}.interval_low</c> and
    /// <c>{detector}.interval_high</c>; metadata: the model, its shape, the seed and each detector's threshold
    /// (<c>threshold.{detector}</c>) and head type (<c>head_type.{detector}</c>), all as strings.
    /// </summary>
    public static SafetensorsWriter Tensors(AtlasReport atlas)
    {
        var invariant = CultureInfo.InvariantCulture;
        var writer = new SafetensorsWriter()
            .AddMetadata("format", "headminer.atlas_scores")
            .AddMetadata("model", atlas.Model.Path)
            .AddMetadata("architecture", atlas.Model.Architecture)
            .AddMetadata("layers", atlas.Model.Layers.ToString(invariant))
            .AddMetadata("heads", atlas.Model.Heads.ToString(invariant))
            .AddMetadata("weight_processing", atlas.Model.Processing)
            .AddMetadata("seed", atlas.Seed.ToString(invariant));
        foreach (var d in atlas.Detectors)
        {
            if (d.Scores is not { } scores) continue;
            writer.Add(d.Id, Matrix(scores));
            if (d.IntervalLow is { } low) writer.Add($"{d.Id}.interval_low", Matrix(low));
            if (d.IntervalHigh is { } high) writer.Add($"{d.Id}.interval_high", Matrix(high));
            if (d.Threshold is double t) writer.AddMetadata($"threshold.{d.Id}", t.ToString("R", invariant));
            if (d.HeadType is { } type) writer.AddMetadata($"head_type.{d.Id}", type);
        }
        return writer;
    }

    private static Tensor Matrix(double?[][] values)
    {
        int rows = values.Length, cols = rows == 0 ? 0 : values[0].Length;
        var data = new float[rows * cols];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) data[r * cols + c] = values[r][c] is double v ? (float)v : float.NaN;
        return Tensor.Wrap(data, [rows, cols]);
    }
}
