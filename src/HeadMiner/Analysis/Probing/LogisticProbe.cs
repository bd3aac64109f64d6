namespace HeadMiner.Analysis.Probing;

/// <summary>
/// L2-regularised logistic regression p(y = 1 | x) = σ(w·x + b), fitted in double by Newton's method (the loss is
/// strictly convex with λ &gt; 0, so a few iterations reach the optimum; features here are one head's d_head values).
/// Features are standardised with the training rows' mean and standard deviation first, so λ means the same for
/// every head; the bias is not regularised.
/// </summary>
public sealed class LogisticProbe
{
    private readonly double[] _mean, _scale, _w;
    private double _b;

    public int Features { get; }

    private LogisticProbe(int features)
    {
        Features = features;
        _mean = new double[features];
        _scale = new double[features];
        _w = new double[features];
    }

    /// <summary>Weights in standardised feature space (index = feature).</summary>
    public IReadOnlyList<double> Weights => _w;

    /// <summary>Fits rows <paramref name="x"/>[i] (length <see cref="Features"/>) to labels 0/1 with penalty λ·|w|²/2 (loss summed over rows).</summary>
    public static LogisticProbe Fit(IReadOnlyList<double[]> x, IReadOnlyList<int> labels, double lambda = 1.0, int maxIterations = 50)
    {
        if (x.Count == 0 || x.Count != labels.Count) throw new ArgumentException($"{x.Count} rows and {labels.Count} labels");
        int n = x.Count, f = x[0].Length, p = f + 1;
        var probe = new LogisticProbe(f);
        for (int j = 0; j < f; j++)
        {
            double m = 0, v = 0;
            for (int i = 0; i < n; i++) m += x[i][j];
            m /= n;
            for (int i = 0; i < n; i++) v += (x[i][j] - m) * (x[i][j] - m);
            probe._mean[j] = m;
            probe._scale[j] = v > 0 ? 1 / Math.Sqrt(v / n) : 0; // a constant feature carries nothing
        }
        var z = x.Select(probe.Standardise).ToArray();
        var theta = new double[p]; // w then b
        for (int iteration = 0; iteration < maxIterations; iteration++)
        {
            var gradient = new double[p];
            var hessian = new double[p * p];
            for (int i = 0; i < n; i++)
            {
                double s = theta[f];
                for (int j = 0; j < f; j++) s += theta[j] * z[i][j];
                double prob = Sigmoid(s), r = prob - labels[i], weight = prob * (1 - prob);
                for (int j = 0; j < p; j++)
                {
                    double zj = j < f ? z[i][j] : 1;
                    gradient[j] += r * zj;
                    for (int k = 0; k <= j; k++) hessian[j * p + k] += weight * zj * (k < f ? z[i][k] : 1);
                }
            }
            for (int j = 0; j < p; j++)
            {
                for (int k = 0; k < j; k++) hessian[k * p + j] = hessian[j * p + k];
                if (j < f)
                {
                    gradient[j] += lambda * theta[j];
                    hessian[j * p + j] += lambda;
                }
                hessian[j * p + j] += 1e-9; // keeps the bias row solvable when every label is the same
            }
            var step = Solve(hessian, gradient, p);
            double largest = 0;
            for (int j = 0; j < p; j++)
            {
                theta[j] -= step[j];
                largest = Math.Max(largest, Math.Abs(step[j]));
            }
            if (largest < 1e-10) break;
        }
        Array.Copy(theta, probe._w, f);
        probe._b = theta[f];
        return probe;
    }

    public double Probability(double[] x)
    {
        var z = Standardise(x);
        double s = _b;
        for (int j = 0; j < Features; j++) s += _w[j] * z[j];
        return Sigmoid(s);
    }

    /// <summary>Fraction of rows whose predicted class (p ≥ 0.5) equals the label.</summary>
    public double Accuracy(IReadOnlyList<double[]> x, IReadOnlyList<int> labels)
    {
        int correct = 0;
        for (int i = 0; i < x.Count; i++) correct += (Probability(x[i]) >= 0.5 ? 1 : 0) == labels[i] ? 1 : 0;
        return x.Count == 0 ? double.NaN : (double)correct / x.Count;
    }

    private double[] Standardise(double[] x)
    {
        var z = new double[Features];
        for (int j = 0; j < Features; j++) z[j] = (x[j] - _mean[j]) * _scale[j];
        return z;
    }

    private static double Sigmoid(double s) => s >= 0 ? 1 / (1 + Math.Exp(-s)) : Math.Exp(s) / (1 + Math.Exp(s));

    /// <summary>Solves the symmetric positive-definite system A·x = b by Gaussian elimination with partial pivoting.</summary>
    private static double[] Solve(double[] a, double[] b, int n)
    {
        var m = (double[])a.Clone();
        var x = (double[])b.Clone();
        for (int c = 0; c < n; c++)
        {
            int pivot = c;
            for (int r = c + 1; r < n; r++) if (Math.Abs(m[r * n + c]) > Math.Abs(m[pivot * n + c])) pivot = r;
            if (pivot != c)
            {
                for (int k = 0; k < n; k++) (m[c * n + k], m[pivot * n + k]) = (m[pivot * n + k], m[c * n + k]);
                (x[c], x[pivot]) = (x[pivot], x[c]);
            }
            double d = m[c * n + c];
            for (int r = c + 1; r < n; r++)
            {
                double factor = m[r * n + c] / d;
                if (factor == 0) continue;
                for (int k = c; k < n; k++) m[r * n + k] -= factor * m[c * n + k];
                x[r] -= factor * x[c];
            }
        }
        for (int r = n - 1; r >= 0; r--)
        {
            double s = x[r];
            for (int k = r + 1; k < n; k++) s -= m[r * n + k] * x[k];
            x[r] = s / m[r * n + r];
        }
        return x;
    }
}
