namespace HeadMiner.Tests.Reference;

/// <summary>
/// Plain double-precision loops, written for obviousness rather than speed and independently of the fast kernels
/// (different formulas where a choice exists: tanh instead of sigmoid, explicit Jacobians for the norms, a
/// series/continued fraction for erf). Inputs and outputs are doubles (tests widen the kernels' float inputs), so the same code also serves finite differences.
/// </summary>
public static class ScalarKernels
{
    // ---- softmax -------------------------------------------------------------------------------------------

    /// <summary>Causal softmax of each row over columns 0..first+r; hidden columns 0; an all −∞ row all 0.</summary>
    public static double[] CausalSoftmax(double[] x, int rows, int cols, int firstQueryPosition)
    {
        var y = new double[rows * cols];
        for (int r = 0; r < rows; r++)
        {
            int visible = (int)Math.Min(cols, Math.Max(0, (long)firstQueryPosition + r + 1));
            double max = double.NegativeInfinity;
            bool nan = false;
            for (int j = 0; j < visible; j++)
            {
                nan |= double.IsNaN(x[r * cols + j]);
                if (x[r * cols + j] > max) max = x[r * cols + j];
            }
            if (nan || double.IsPositiveInfinity(max))
            {
                for (int j = 0; j < visible; j++) y[r * cols + j] = double.NaN;
                continue;
            }
            if (double.IsNegativeInfinity(max)) continue;
            double sum = 0;
            for (int j = 0; j < visible; j++) sum += Math.Exp(x[r * cols + j] - max);
            for (int j = 0; j < visible; j++) y[r * cols + j] = Math.Exp(x[r * cols + j] - max) / sum;
        }
        return y;
    }

    public static double[] Softmax(double[] x, int rows, int cols) => CausalSoftmax(x, rows, cols, int.MaxValue / 2);

    public static double[] LogSoftmax(double[] x, int rows, int cols)
    {
        var y = new double[rows * cols];
        for (int r = 0; r < rows; r++)
        {
            double lse = LogSumExp(x.AsSpan(r * cols, cols));
            for (int j = 0; j < cols; j++) y[r * cols + j] = double.IsNegativeInfinity(lse) ? double.NegativeInfinity : x[r * cols + j] - lse;
        }
        return y;
    }

    public static double LogSumExp(ReadOnlySpan<double> row)
    {
        double max = double.NegativeInfinity;
        foreach (double v in row)
        {
            if (double.IsNaN(v)) return double.NaN;
            max = Math.Max(max, v);
        }
        if (double.IsInfinity(max)) return max;
        double sum = 0;
        foreach (double v in row) sum += Math.Exp(v - max);
        return max + Math.Log(sum);
    }

    /// <summary>dx_j = Σ_i dy_i ∂y_i/∂x_j with the full Jacobian ∂y_i/∂x_j = y_i(δ_ij − y_j), within each row's visible part.</summary>
    public static double[] CausalSoftmaxBackward(double[] y, double[] dy, int rows, int cols, int firstQueryPosition)
    {
        var dx = new double[rows * cols];
        for (int r = 0; r < rows; r++)
        {
            int visible = (int)Math.Min(cols, Math.Max(0, (long)firstQueryPosition + r + 1));
            for (int j = 0; j < visible; j++)
            {
                double s = 0;
                for (int i = 0; i < visible; i++)
                    s += dy[r * cols + i] * y[r * cols + i] * ((i == j ? 1 : 0) - y[r * cols + j]);
                dx[r * cols + j] = s;
            }
        }
        return dx;
    }

    /// <summary>dx_j = Σ_i dy_i (δ_ij − softmax_j): the log-softmax Jacobian, row by row (O(cols²): small sizes only).</summary>
    public static double[] LogSoftmaxBackward(double[] logY, double[] dy, int rows, int cols)
    {
        var dx = new double[rows * cols];
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < cols; j++)
            {
                double s = 0;
                for (int i = 0; i < cols; i++) s += dy[r * cols + i] * ((i == j ? 1 : 0) - Math.Exp(logY[r * cols + j]));
                dx[r * cols + j] = s;
            }
        return dx;
    }

    // ---- norms ---------------------------------------------------------------------------------------------

    public static double[] LayerNorm(double[] x, int rows, int dim, double[]? weight, double[]? bias, double eps, double[]? scale = null)
    {
        var y = new double[rows * dim];
        for (int r = 0; r < rows; r++)
        {
            double mean = 0, variance = 0;
            for (int j = 0; j < dim; j++) mean += x[r * dim + j];
            mean /= dim;
            for (int j = 0; j < dim; j++) variance += (x[r * dim + j] - mean) * (x[r * dim + j] - mean);
            double sigma = Math.Sqrt(variance / dim + eps);
            if (scale != null) scale[r] = sigma;
            for (int j = 0; j < dim; j++)
                y[r * dim + j] = (x[r * dim + j] - mean) / sigma * (weight?[j] ?? 1.0) + (bias?[j] ?? 0.0);
        }
        return y;
    }

    public static double[] RmsNorm(double[] x, int rows, int dim, double[]? weight, double eps, double[]? scale = null)
    {
        var y = new double[rows * dim];
        for (int r = 0; r < rows; r++)
        {
            double squares = 0;
            for (int j = 0; j < dim; j++) squares += (double)x[r * dim + j] * x[r * dim + j];
            double sigma = Math.Sqrt(squares / dim + eps);
            if (scale != null) scale[r] = sigma;
            for (int j = 0; j < dim; j++) y[r * dim + j] = x[r * dim + j] / sigma * (weight?[j] ?? 1.0);
        }
        return y;
    }

    /// <summary>
    /// LayerNorm backward through the explicit Jacobian ∂x̂_i/∂x_j = (δ_ij − 1/n − x̂_i x̂_j / n)/σ, plus
    /// dweight = Σ dy·x̂ and dbias = Σ dy.
    /// </summary>
    public static (double[] Dx, double[] DWeight, double[] DBias) LayerNormBackward(double[] x, double[] dy, int rows, int dim, double[]? weight, double eps)
    {
        var dx = new double[rows * dim];
        var dw = new double[dim];
        var db = new double[dim];
        var xhat = new double[dim];
        for (int r = 0; r < rows; r++)
        {
            double mean = 0, variance = 0;
            for (int j = 0; j < dim; j++) mean += x[r * dim + j];
            mean /= dim;
            for (int j = 0; j < dim; j++) variance += (x[r * dim + j] - mean) * (x[r * dim + j] - mean);
            double sigma = Math.Sqrt(variance / dim + eps);
            for (int j = 0; j < dim; j++) xhat[j] = (x[r * dim + j] - mean) / sigma;
            for (int j = 0; j < dim; j++)
            {
                double s = 0;
                for (int i = 0; i < dim; i++)
                    s += dy[r * dim + i] * (weight?[i] ?? 1.0) * ((i == j ? 1 : 0) - 1.0 / dim - xhat[i] * xhat[j] / dim) / sigma;
                dx[r * dim + j] = s;
                dw[j] += dy[r * dim + j] * xhat[j];
                db[j] += dy[r * dim + j];
            }
        }
        return (dx, dw, db);
    }

    /// <summary>RMSNorm backward through the Jacobian ∂x̂_i/∂x_j = (δ_ij − x̂_i x̂_j / n)/σ, plus dweight = Σ dy·x̂.</summary>
    public static (double[] Dx, double[] DWeight) RmsNormBackward(double[] x, double[] dy, int rows, int dim, double[]? weight, double eps)
    {
        var dx = new double[rows * dim];
        var dw = new double[dim];
        var xhat = new double[dim];
        for (int r = 0; r < rows; r++)
        {
            double squares = 0;
            for (int j = 0; j < dim; j++) squares += (double)x[r * dim + j] * x[r * dim + j];
            double sigma = Math.Sqrt(squares / dim + eps);
            for (int j = 0; j < dim; j++) xhat[j] = x[r * dim + j] / sigma;
            for (int j = 0; j < dim; j++)
            {
                double s = 0;
                for (int i = 0; i < dim; i++)
                    s += dy[r * dim + i] * (weight?[i] ?? 1.0) * ((i == j ? 1 : 0) - xhat[i] * xhat[j] / dim) / sigma;
                dx[r * dim + j] = s;
                dw[j] += dy[r * dim + j] * xhat[j];
            }
        }
        return (dx, dw);
    }

    // ---- activations ---------------------------------------------------------------------------------------

    private const double SqrtTwoOverPi = 0.7978845608028654;

    public static double GeluTanh(double x)
    {
        if (double.IsNegativeInfinity(x)) return 0;
        return 0.5 * x * OnePlusTanh(GeluTanhArgument(x));
    }

    /// <summary>d/dx of 0.5·x·(1 + tanh u): 0.5(1 + tanh u) + 0.5·x·sech²u·u′.</summary>
    public static double GeluTanhDerivative(double x)
    {
        if (double.IsNegativeInfinity(x)) return 0;
        if (double.IsPositiveInfinity(x)) return 1;
        double u = GeluTanhArgument(x);
        return 0.5 * OnePlusTanh(u) + 0.5 * x * SechSquared(u) * SqrtTwoOverPi * (1 + 3 * 0.044715 * x * x);
    }

    private static double GeluTanhArgument(double x) => SqrtTwoOverPi * (x + 0.044715 * x * x * x);

    // 1 + tanh u and 1 − tanh²u cancel to nothing for u ≪ 0 (tanh u rounds to −1); there use their exact
    // rewrites in e^{2u}: 1 + tanh u = 2e^{2u}/(1 + e^{2u}), sech²u = 4e^{2u}/(1 + e^{2u})².
    private static double OnePlusTanh(double u)
    {
        if (u > -1) return 1 + Math.Tanh(u);
        double e = Math.Exp(2 * u);
        return 2 * e / (1 + e);
    }

    private static double SechSquared(double u)
    {
        if (Math.Abs(u) < 1) return 1 - Math.Tanh(u) * Math.Tanh(u);
        double e = Math.Exp(-2 * Math.Abs(u));
        return 4 * e / ((1 + e) * (1 + e));
    }

    public static double GeluErf(double x) => double.IsNegativeInfinity(x) ? 0 : x * NormalCdf(x);

    public static double GeluErfDerivative(double x)
    {
        if (double.IsNegativeInfinity(x)) return 0;
        if (double.IsPositiveInfinity(x)) return 1;
        return NormalCdf(x) + x * Math.Exp(-x * x / 2) / Math.Sqrt(2 * Math.PI);
    }

    public static double Sigmoid(double x) => 1 / (1 + Math.Exp(-x));

    public static double Silu(double x) => double.IsNegativeInfinity(x) ? 0 : x * Sigmoid(x);

    public static double SiluDerivative(double x)
    {
        if (double.IsNegativeInfinity(x)) return 0;
        if (double.IsPositiveInfinity(x)) return 1;
        double s = Sigmoid(x);
        return s + x * s * (1 - s);
    }

    /// <summary>Φ(x) = ½·erfc(−x/√2), relatively accurate in both tails.</summary>
    public static double NormalCdf(double x) => 0.5 * Erfc(-x / Math.Sqrt(2));

    /// <summary>erf by its Maclaurin series for |x| &lt; 2 (≈1e-15 absolute), by 1 − erfc beyond.</summary>
    public static double Erf(double x)
    {
        if (double.IsNaN(x)) return double.NaN;
        double ax = Math.Abs(x);
        double r;
        if (ax < 2)
        {
            double sum = 0, power = ax;
            double factorial = 1;
            for (int n = 0; n < 100; n++)
            {
                if (n > 0)
                {
                    factorial *= n;
                    power *= ax * ax;
                }
                double term = power / (factorial * (2 * n + 1));
                sum += n % 2 == 0 ? term : -term;
                if (term < 1e-20) break;
            }
            r = 2 / Math.Sqrt(Math.PI) * sum;
        }
        else r = 1 - Erfc(ax);
        return x < 0 ? -r : r;
    }

    /// <summary>erfc: 1 − series below 2, Laplace's continued fraction (300 levels, evaluated bottom-up) from 2 on.</summary>
    public static double Erfc(double x)
    {
        if (double.IsNaN(x)) return double.NaN;
        if (x < 2) return 1 - Erf(x);
        if (double.IsPositiveInfinity(x)) return 0;
        double f = 0;
        for (int n = 300; n >= 1; n--) f = n / 2.0 / (x + f);
        return Math.Exp(-x * x) / Math.Sqrt(Math.PI) / (x + f);
    }

    // ---- rotary --------------------------------------------------------------------------------------------

    /// <summary>
    /// Rotates pair (i0, i1) of every head by angle p·θ^(−2i/rotaryDim) (or its negative), angles from scratch in double.
    /// </summary>
    public static double[] Rotary(double[] x, int tokens, int rowStride, int heads, int headDim, int rotaryDim,
        int[] positions, double theta, bool interleaved, bool inverse)
    {
        var y = (double[])x.Clone();
        int half = rotaryDim / 2;
        for (int t = 0; t < tokens; t++)
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < half; i++)
                {
                    double angle = positions[t] / Math.Pow(theta, 2.0 * i / rotaryDim) * (inverse ? -1 : 1);
                    int baseIndex = t * rowStride + h * headDim;
                    int i0 = baseIndex + (interleaved ? 2 * i : i);
                    int i1 = baseIndex + (interleaved ? 2 * i + 1 : i + half);
                    double a = x[i0], b = x[i1];
                    y[i0] = a * Math.Cos(angle) - b * Math.Sin(angle);
                    y[i1] = a * Math.Sin(angle) + b * Math.Cos(angle);
                }
        return y;
    }

    // ---- cross-entropy -------------------------------------------------------------------------------------

    public static double CrossEntropy(ReadOnlySpan<double> logits, int target) => LogSumExp(logits) - logits[target];

    /// <summary>d loss / d logit_j = softmax_j − [j = target].</summary>
    public static double[] CrossEntropyGradient(double[] logits, int target)
    {
        var p = Softmax(logits, 1, logits.Length);
        p[target] -= 1;
        return p;
    }

    public static double[] ToDouble(ReadOnlySpan<float> x)
    {
        var d = new double[x.Length];
        for (int i = 0; i < x.Length; i++) d[i] = x[i];
        return d;
    }

    // ---- finite differences --------------------------------------------------------------------------------

    /// <summary>
    /// Central differences of L(x) = Σ_i weights_i · f(x)_i with f evaluated in double: dL/dx_j ≈ (L(x + h e_j) −
    /// L(x − h e_j)) / 2h. f receives a double copy of x that it may read as it likes.
    /// </summary>
    public static double[] FiniteDifferenceGradient(double[] x, double[] weights, Func<double[], double[]> f, double h = 1e-5)
    {
        var grad = new double[x.Length];
        var probe = (double[])x.Clone();
        for (int j = 0; j < x.Length; j++)
        {
            probe[j] = x[j] + h;
            double plus = Dot(weights, f(probe));
            probe[j] = x[j] - h;
            double minus = Dot(weights, f(probe));
            probe[j] = x[j];
            grad[j] = (plus - minus) / (2 * h);
        }
        return grad;
    }

    private static double Dot(double[] a, double[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }
}
