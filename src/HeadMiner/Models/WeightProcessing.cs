namespace HeadMiner.Models;

/// <summary>
/// Which of TransformerLens's weight-processing steps were applied to a model. Every output that depends on them
/// carries this label (<see cref="ToString"/>), because published head scores assume them and raw numerics differ.
/// </summary>
public sealed record WeightProcessing(bool FoldLayerNorm, bool CenterWritingWeights, bool CenterUnembed, bool FoldValueBiases)
{
    public static readonly WeightProcessing None = new(false, false, false, false);

    /// <summary>TransformerLens's from_pretrained defaults.</summary>
    public static readonly WeightProcessing TransformerLensDefault = new(true, true, true, true);

    public bool Any => FoldLayerNorm || CenterWritingWeights || CenterUnembed || FoldValueBiases;

    public override string ToString()
    {
        if (!Any) return "none";
        var steps = new List<string>();
        if (FoldLayerNorm) steps.Add("fold_ln");
        if (CenterWritingWeights) steps.Add("center_writing_weights");
        if (CenterUnembed) steps.Add("center_unembed");
        if (FoldValueBiases) steps.Add("fold_value_biases");
        return string.Join("+", steps);
    }
}
