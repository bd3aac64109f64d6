namespace HeadMiner.Analysis.Literature;

/// <summary>
/// One published statement about one model's heads: a head of a type (<see cref="Head"/>: "9.9 is a name mover") or,
/// for a relation, a sender and a receiver (<see cref="Sender"/> → <see cref="Receiver"/>: "4.11's output is read by
/// 6.9's keys", type <c>k_composition</c>). <see cref="Type"/> is a catalog head-type id (as the atlas labels heads)
/// or the relation's detector id.
/// </summary>
public sealed record LiteratureFact
{
    public const string KComposition = "k_composition";

    public required string ModelId { get; init; }
    public required string Type { get; init; }
    public LiteratureHead? Head { get; init; }
    public LiteratureHead? Sender { get; init; }
    public LiteratureHead? Receiver { get; init; }
    public required LiteraturePaper Paper { get; init; }
    public string? Note { get; init; }

    public bool IsRelation => Sender is not null;

    /// <summary>"9.9" or "4.11 → 6.9".</summary>
    public string Subject => IsRelation ? $"{Sender} → {Receiver}" : Head!.ToString();

    public override string ToString() => $"{ModelId} {Subject} {Type} ({Paper.Id})";
}
