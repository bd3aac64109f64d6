namespace HeadMiner.Analysis.Atlas;

/// <summary>
/// The causal evidence for one detector's labels (<see cref="CausalConfirmation"/>): its labelled heads ablated one at
/// a time and all together, under zero, mean and resample ablation, each effect placed among the effects of random
/// heads (single heads for "alone", sets of as many heads for "together"), and per labelled head a grade. The first
/// block of fields is the original summary (zero ablation of the set together against random sets).
/// </summary>
public sealed record AtlasCausal
{
    public const string Confirmed = "causally_confirmed", PatternOnly = "pattern_only";

    public required string Metric { get; init; }
    public required bool HigherIsBetter { get; init; }

    /// <summary>The ablation of the summary fields below (zero).</summary>
    public required string Ablation { get; init; }

    /// <summary>The heads ablated together: the labelled heads, best first (the single best head when none is labelled).</summary>
    public required IReadOnlyList<int[]> Heads { get; init; }
    public required double Baseline { get; init; }
    public required double TopHeadsValue { get; init; }
    public required double? RandomHeadsValue { get; init; }

    /// <summary>The median over the random draws: one draw that hits a head the circuit needs (a previous-token head for induction) moves the mean a lot.</summary>
    public double? RandomHeadsMedian { get; init; }
    public required IReadOnlyList<IReadOnlyList<int[]>> RandomDraws { get; init; }
    public required IReadOnlyList<double> RandomValues { get; init; }

    /// <summary>How much worse the metric got from ablating the top heads (positive = they matter), in the metric's units.</summary>
    public double TopEffect => HigherIsBetter ? Baseline - TopHeadsValue : TopHeadsValue - Baseline;

    /// <summary>The same for the random heads (null when the model has too few other heads to draw from).</summary>
    public double? RandomEffect => HigherIsBetter ? Baseline - RandomHeadsValue : RandomHeadsValue - Baseline;

    /// <summary>The same for the median random draw.</summary>
    public double? RandomMedianEffect => HigherIsBetter ? Baseline - RandomHeadsMedian : RandomHeadsMedian - Baseline;

    /// <summary>One entry per head ablated alone (the labelled heads, best first; the best head when none is labelled).</summary>
    public IReadOnlyList<AtlasHeadEffect> PerHead { get; init; } = [];

    /// <summary>The set <see cref="Heads"/> ablated together, per ablation kind, against <see cref="RandomDraws"/> ablated the same way.</summary>
    public IReadOnlyList<AtlasTogether> Together { get; init; } = [];

    /// <summary>The random single heads the alone effects are ranked among, per ablation kind.</summary>
    public IReadOnlyList<AtlasRandomAlone> RandomAlone { get; init; } = [];

    /// <summary>The rule that turns the effects into <see cref="AtlasHeadEffect.Grade"/>.</summary>
    public string? GradeRule { get; init; }

    /// <summary>Task evaluations this check ran (ablations shared with an earlier detector's check of the same task are not counted again).</summary>
    public int Evaluations { get; init; }

    /// <summary>Wall time of this check.</summary>
    public double Seconds { get; init; }

    /// <summary>Caps, fallbacks and other facts about how the evidence was collected.</summary>
    public IReadOnlyList<string> Notes { get; init; } = [];

    /// <summary>The per-head evidence for (layer, head), or null when that head was not ablated alone.</summary>
    public AtlasHeadEffect? For(int layer, int head) => PerHead.FirstOrDefault(h => h.Layer == layer && h.Head == head);
}

/// <summary>One ablation of one head or set: the metric under it, its effect (positive = the metric got worse) and that effect's percentile among the random heads' effects.</summary>
public sealed record AtlasAblationEffect
{
    /// <summary>zero | mean | resample.</summary>
    public required string Ablation { get; init; }
    public required double Value { get; init; }
    public required double Effect { get; init; }

    /// <summary>Mid-rank percentile in [0, 100] of <see cref="Effect"/> among the random heads' effects; null when there were none.</summary>
    public required double? Percentile { get; init; }

    /// <summary>
    /// For a head ablated alone: the labelled set's together effect minus that of the set without this head
    /// (= <see cref="Effect"/> for a set of one); measured only when the set's together effect reaches the 95th
    /// percentile under this ablation (the grade needs it only then), else null.
    /// </summary>
    public double? Marginal { get; init; }

    /// <summary>Percentile of <see cref="Marginal"/> among the random single heads' alone effects.</summary>
    public double? MarginalPercentile { get; init; }
}

/// <summary>The evidence for one head: ablated alone and, as a member of the labelled set, together; and its grade.</summary>
public sealed record AtlasHeadEffect
{
    public required int Layer { get; init; }
    public required int Head { get; init; }
    public required double Score { get; init; }

    /// <summary>Whether the head passes the detector's threshold (only labelled heads are graded).</summary>
    public required bool Labelled { get; init; }

    /// <summary>The head ablated alone, per ablation kind.</summary>
    public required IReadOnlyList<AtlasAblationEffect> Alone { get; init; }

    /// <summary>causally_confirmed | pattern_only; null for a head that is not labelled.</summary>
    public required string? Grade { get; init; }

    /// <summary>Which ablation and which comparison decided the grade, in words.</summary>
    public required string? GradeReason { get; init; }

    /// <summary>The ablation kind the headline numbers below come from: the one that confirmed the head, else the one with the highest alone percentile.</summary>
    public required string Ablation { get; init; }
    public required double EffectAlone { get; init; }
    public required double? PercentileAlone { get; init; }

    /// <summary>The labelled set's together effect under <see cref="Ablation"/>.</summary>
    public required double? EffectTogether { get; init; }
    public required double? PercentileTogether { get; init; }
}

/// <summary>The labelled set ablated together under one ablation kind, and the same-size random sets.</summary>
public sealed record AtlasTogether
{
    public required string Ablation { get; init; }
    public required double Value { get; init; }
    public required double Effect { get; init; }
    public required double? Percentile { get; init; }

    /// <summary>Effects of the random sets (<see cref="AtlasCausal.RandomDraws"/>, in order).</summary>
    public required IReadOnlyList<double> RandomEffects { get; init; }
}

/// <summary>Random single heads (not labelled with the type) ablated alone under one ablation kind.</summary>
public sealed record AtlasRandomAlone
{
    public required string Ablation { get; init; }
    public required IReadOnlyList<int[]> Heads { get; init; }
    public required IReadOnlyList<double> Effects { get; init; }
}
