namespace HeadMiner.Analysis.Truth;

/// <summary>The catalog head-type ids planted models can hold (the atlas's label types).</summary>
public static class PlantedTypes
{
    public const string PreviousToken = "previous_token";
    public const string DuplicateToken = "duplicate_token";
    public const string Induction = "induction";
    public const string AttentionSink = "attention_sink";
    public const string Positional = "positional";

    /// <summary>OV = +identity over tokens (detector ov_copying).</summary>
    public const string Copy = "copy";

    /// <summary>OV = −identity over tokens (detector negative_copying).</summary>
    public const string CopySuppression = "copy_suppression";

    public const string NameMover = "name_mover";
    public const string NegativeNameMover = "negative_name_mover";
    public const string SInhibition = "s_inhibition";

    /// <summary>Types of <see cref="PlantedModels"/>.</summary>
    public static readonly IReadOnlyList<string> All = [PreviousToken, DuplicateToken, Induction, AttentionSink, Positional, Copy, CopySuppression];

    /// <summary>Types of <see cref="PlantedIoi"/> (its movers also copy / suppress: <see cref="Copy"/>, <see cref="CopySuppression"/>).</summary>
    public static readonly IReadOnlyList<string> Ioi = [DuplicateToken, SInhibition, NameMover, NegativeNameMover, Copy, CopySuppression];
}
