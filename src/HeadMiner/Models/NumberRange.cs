namespace HeadMiner.Models;

/// <summary>An interval a config number must fall in, with the words an error message uses for it.</summary>
public sealed record NumberRange(double Min, bool MinInclusive, double Max, bool MaxInclusive, string Description)
{
    /// <summary>(0, ∞): epsilons, scaling factors.</summary>
    public static readonly NumberRange Positive = new(0, false, double.MaxValue, true, "a positive finite number");

    /// <summary>(0, 1]: the fraction of each head that is rotated.</summary>
    public static readonly NumberRange Fraction = new(0, false, 1, true, "a number in (0, 1]");

    /// <summary>[1, ∞): a rotary base. Below 1 the inverse frequencies θ^(−2i/d) exceed 1 and grow without bound as θ → 0.</summary>
    public static readonly NumberRange RotaryBase = new(1, true, double.MaxValue, true, "a finite number ≥ 1");

    public bool Contains(double x) =>
        (MinInclusive ? x >= Min : x > Min) && (MaxInclusive ? x <= Max : x < Max);

    public override string ToString() => Description;
}
