namespace HeadMiner.Analysis.Truth;

/// <summary>
/// One head whose role a planted model was built to have: (layer, query head) and the catalog head-type id the atlas
/// labels it with when a detector finds it ("previous_token", "induction", "copy", …).
/// </summary>
public sealed record PlantedHead(int Layer, int Head, string Type)
{
    public override string ToString() => $"L{Layer}H{Head} {Type}";
}
