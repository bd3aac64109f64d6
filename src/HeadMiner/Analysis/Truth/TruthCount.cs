namespace HeadMiner.Analysis.Truth;

/// <summary>
/// One detector's confusion counts against planted truth, pooled over the models where its type was planted and it
/// ran: TP = planted heads it labelled, FN = planted heads it missed, FP = other heads it labelled with the type.
/// </summary>
public sealed record TruthCount(string Detector, string Type, int Models, int TruePositives, int FalsePositives, int FalseNegatives)
{
    /// <summary>TP / (TP + FP); NaN when the detector labelled nothing.</summary>
    public double Precision => TruePositives + FalsePositives == 0 ? double.NaN : (double)TruePositives / (TruePositives + FalsePositives);

    /// <summary>TP / (TP + FN); NaN when nothing was planted.</summary>
    public double Recall => TruePositives + FalseNegatives == 0 ? double.NaN : (double)TruePositives / (TruePositives + FalseNegatives);

    public static TruthCount operator +(TruthCount a, TruthCount b) => a.Detector != b.Detector
        ? throw new ArgumentException($"cannot add counts of {a.Detector} and {b.Detector}")
        : a with
        {
            Models = a.Models + b.Models,
            TruePositives = a.TruePositives + b.TruePositives,
            FalsePositives = a.FalsePositives + b.FalsePositives,
            FalseNegatives = a.FalseNegatives + b.FalseNegatives,
        };
}
