namespace HeadMiner.Analysis.Atlas;

/// <summary>
/// The atlas's circuits section (docs/CIRCUITS.md, "In the atlas and the explorer"): for every task set the model's
/// vocabulary can spell, the circuit that carries it (<see cref="Circuits.SmallestFaithfulCircuit"/>), its faithfulness
/// measured by patching, the roles of its heads taken from their atlas labels, and the labelled heads that are in no
/// task's circuit. Computed after the detectors, from the assembled labels, in the process that writes atlas.json.
/// </summary>
public sealed record AtlasCircuits
{
    /// <summary>ran | skipped (no tokenizer, weights only, a graph the edge patcher cannot build).</summary>
    public required string Status { get; init; }
    public string? Reason { get; init; }
    public required string Method { get; init; }

    /// <summary>The method's settings: metric, interpolation steps, pairs per task, seed, target faithfulness, budgets.</summary>
    public required IReadOnlyDictionary<string, string> Settings { get; init; }

    /// <summary>How the circuit was chosen and its faithfulness measured, in words.</summary>
    public required string How { get; init; }
    public IReadOnlyList<AtlasTaskCircuit> Tasks { get; init; } = [];

    /// <summary>Heads with at least one label that are a node of no task's circuit (layer, head order).</summary>
    public IReadOnlyList<AtlasCircuitHead> LabelledNotInAnyCircuit { get; init; } = [];
    public double Seconds { get; init; }
}

/// <summary>One task's circuit, or why there is none (skipped: the vocabulary cannot spell the set; failed: the method's error).</summary>
public sealed record AtlasTaskCircuit
{
    public required string Task { get; init; }

    /// <summary>ran | skipped | failed.</summary>
    public required string Status { get; init; }
    public string? Reason { get; init; }
    public int Pairs { get; init; }
    public double? CleanMetric { get; init; }
    public double? CorruptedMetric { get; init; }
    public int GraphEdges { get; init; }

    /// <summary>The chosen budget (a fraction of the graph's edges, <see cref="Curve"/>).</summary>
    public double Budget { get; init; }

    /// <summary>Edges kept (the chosen budget's top-|score| edges) and their share of the graph.</summary>
    public int EdgesKept { get; init; }
    public double Fraction { get; init; }

    /// <summary>(metric with every other edge corrupted − corrupted) / (clean − corrupted), measured by patching.</summary>
    public double? Faithfulness { get; init; }

    /// <summary>Whether a budget below the whole graph came within 1 − target of faithfulness 1 (else the closest one was kept).</summary>
    public bool ReachedTarget { get; init; }

    /// <summary>Faithfulness of the top edges at every budget (the last is the whole graph, 1), and its MIB-style areas.</summary>
    public IReadOnlyList<AtlasCircuitBudget> Curve { get; init; } = [];
    public double? Cpr { get; init; }
    public double? Cmd { get; init; }

    /// <summary>Heads and MLPs whose output the circuit uses, each head with its atlas labels (its roles).</summary>
    public IReadOnlyList<AtlasCircuitNode> Nodes { get; init; } = [];
    public IReadOnlyList<AtlasCircuitEdge> Edges { get; init; } = [];
    public double Seconds { get; init; }

    /// <summary>The process's peak resident set while this task's circuit was found, in MiB (null where the system does not report it).</summary>
    [System.Text.Json.Serialization.JsonPropertyName("peak_rss_mib")]
    public double? PeakRssMiB { get; init; }
}

public sealed record AtlasCircuitBudget(double Fraction, int Edges, double? Faithfulness);

/// <summary>A node of a circuit: "a{l}.h{h}" (a head, <see cref="Head"/> ≥ 0) or "mlp{l}" (<see cref="Head"/> −1); roles = the head's label types.</summary>
public sealed record AtlasCircuitNode(string Name, int Layer, int Head, IReadOnlyList<string> Roles);

/// <summary>An edge of a circuit by the graph's names (docs/CIRCUITS.md) and its EAP-IG score.</summary>
public sealed record AtlasCircuitEdge(string Sender, string Receiver, double Score);

public sealed record AtlasCircuitHead(int Layer, int Head, IReadOnlyList<string> Labels);
