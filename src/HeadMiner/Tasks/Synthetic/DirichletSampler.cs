using HeadMiner.Tensors;

namespace HeadMiner.Tasks.Synthetic;

/// <summary>
/// Draws probability vectors from a symmetric Dirichlet(α, …, α): k independent Gamma(α, 1) draws divided by their sum.
/// Gamma draws use Marsaglia and Tsang's method (2000) for shape ≥ 1 — a squeezed rejection from a cubed normal that
/// accepts over 95% of tries — and, for shape &lt; 1, the boost Gamma(α) = Gamma(α + 1) · U^(1/α). α = 1 is the
/// uniform distribution over the simplex; smaller α gives sparser rows (a few likely next states), larger α rows
/// closer to uniform.
/// </summary>
public static class DirichletSampler
{
    public static void Sample(SeededRandom random, double concentration, Span<double> probabilities)
    {
        if (!(concentration > 0)) throw new ArgumentOutOfRangeException(nameof(concentration), "the concentration must be positive");
        double sum = 0;
        for (int i = 0; i < probabilities.Length; i++) sum += probabilities[i] = Gamma(random, concentration);
        if (sum == 0)
        {
            // Every draw underflowed (possible only for tiny α): the limit of Dirichlet as α → 0 is a random vertex.
            probabilities.Clear();
            probabilities[random.NextInt(probabilities.Length)] = 1;
            return;
        }
        for (int i = 0; i < probabilities.Length; i++) probabilities[i] /= sum;
    }

    /// <summary>One draw from Gamma(shape, scale 1).</summary>
    public static double Gamma(SeededRandom random, double shape)
    {
        if (!(shape > 0)) throw new ArgumentOutOfRangeException(nameof(shape), "the shape must be positive");
        if (shape < 1)
        {
            double u = 1.0 - random.NextDouble(); // (0, 1]
            return Gamma(random, shape + 1) * Math.Pow(u, 1 / shape);
        }
        double d = shape - 1.0 / 3, c = 1 / Math.Sqrt(9 * d);
        while (true)
        {
            double x, v;
            do
            {
                x = random.NextNormal();
                v = 1 + c * x;
            }
            while (v <= 0);
            v = v * v * v;
            double u = 1.0 - random.NextDouble();
            if (u < 1 - 0.0331 * x * x * x * x) return d * v;
            if (Math.Log(u) < 0.5 * x * x + d * (1 - v + Math.Log(v))) return d * v;
        }
    }
}
