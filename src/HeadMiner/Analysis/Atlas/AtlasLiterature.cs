namespace HeadMiner.Analysis.Atlas;

/// <summary>
/// The atlas's agreement with the literature for a model the registry recognises by its weights
/// (<c>Analysis/Literature</c>, docs/ATLAS.md "Agreement with the literature"): per published fact what the atlas
/// measured and whether it agrees. Serialised with <see cref="AtlasReport.Json"/> (snake_case).
/// </summary>
public sealed record AtlasLiterature
{
    /// <summary>The registry's id of the model ("gpt2") and its name.</summary>
    public required string ModelId { get; init; }
    public required string ModelName { get; init; }

    /// <summary>The weight fingerprint the model was recognised by ("hm1:…"); null when looked up by id.</summary>
    public string? Fingerprint { get; init; }

    public required int Agrees { get; init; }
    public required int Disagrees { get; init; }
    public required int NotMeasurable { get; init; }

    /// <summary>One row per fact, in the registry's order.</summary>
    public required IReadOnlyList<AtlasLiteratureFact> Facts { get; init; }

    /// <summary>How to read the rows (the agreement rule per kind of fact).</summary>
    public IReadOnlyList<string> Notes { get; init; } = [];
}

/// <summary>One published fact and the atlas's verdict on it.</summary>
public sealed record AtlasLiteratureFact
{
    /// <summary>Catalog head-type id (<c>name_mover</c>, …) or, for a relation, the detector id (<c>k_composition</c>).</summary>
    public required string Type { get; init; }

    /// <summary>The head, for a head fact (null for a relation).</summary>
    public AtlasLiteratureHead? Head { get; init; }

    /// <summary>Sender and receiver, for a relation (null for a head fact).</summary>
    public AtlasLiteratureHead? Sender { get; init; }
    public AtlasLiteratureHead? Receiver { get; init; }

    public required string Paper { get; init; }
    public required string Arxiv { get; init; }

    /// <summary>The detector that measures the type (null when none does).</summary>
    public string? Detector { get; init; }

    /// <summary><see cref="Agrees"/>, <see cref="Disagrees"/> or <see cref="NotMeasurable"/>.</summary>
    public required string Verdict { get; init; }

    /// <summary>Whether the atlas gives the head this label (the pair passes the composition threshold); null when not measured.</summary>
    public bool? Labelled { get; init; }

    public double? Score { get; init; }
    public double? Threshold { get; init; }

    /// <summary>1 = the highest score among <see cref="RankAmong"/>; of <see cref="RankOf"/> scored.</summary>
    public int? Rank { get; init; }
    public int? RankOf { get; init; }

    /// <summary>"heads" for a head fact; "senders to L.H" for a relation (the receiver's earlier heads).</summary>
    public string? RankAmong { get; init; }

    /// <summary>Why not measurable (the detector's skip reason), or what the verdict rests on.</summary>
    public string? Reason { get; init; }

    /// <summary>The registry's note on the fact.</summary>
    public string? Note { get; init; }

    public const string Agrees = "agrees";
    public const string Disagrees = "disagrees";
    public const string NotMeasurable = "not_measurable";
}

/// <summary>A head as layer and head index (both from 0).</summary>
public sealed record AtlasLiteratureHead(int Layer, int Head);
