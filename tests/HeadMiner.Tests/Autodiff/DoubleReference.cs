namespace HeadMiner.Tests.Autodiff;

/// <summary>
/// The autodiff ops written again in plain double precision, independent of the float kernels: finite differences of
/// these are the gradient checks' ground truth (float kernels' rounding would swamp a finite difference). Blocks are
/// row-major arrays; every function returns a new array.
/// </summary>
internal static class DoubleReference
{
    /// <summary>x [rows, input] · W, W [input, output] or (transposeW) [output, input].</summary>
    public static double[] MatMul(double[] x, double[] w, int rows, int input, int output, bool transposeW)
    {
        var y = new double[rows * output];
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < output; o++)
            {
                double s = 0;
                for (int i = 0; i < input; i++) s += x[r * input + i] * (transposeW ? w[o * input + i] : w[i * output + o]);
                y[r * output + o] = s;
            }
        return y;
    }

    public static double[] Add(double[] a, double[] b) => a.Select((v, i) => v + b[i]).ToArray();

    public static double[] AddRowBias(double[] x, double[] bias) => x.Select((v, i) => v + bias[i % bias.Length]).ToArray();

    public static double[] LayerNorm(double[] x, double[]? weight, double[]? bias, int dim, double eps)
    {
        var y = new double[x.Length];
        for (int r = 0; r < x.Length / dim; r++)
        {
            double mean = 0, variance = 0;
            for (int i = 0; i < dim; i++) mean += x[r * dim + i];
            mean /= dim;
            for (int i = 0; i < dim; i++) variance += (x[r * dim + i] - mean) * (x[r * dim + i] - mean);
            double sigma = Math.Sqrt(variance / dim + eps);
            for (int i = 0; i < dim; i++)
                y[r * dim + i] = (x[r * dim + i] - mean) / sigma * (weight?[i] ?? 1) + (bias?[i] ?? 0);
        }
        return y;
    }

    public static double[] RmsNorm(double[] x, double[]? weight, int dim, double eps)
    {
        var y = new double[x.Length];
        for (int r = 0; r < x.Length / dim; r++)
        {
            double squares = 0;
            for (int i = 0; i < dim; i++) squares += x[r * dim + i] * x[r * dim + i];
            double sigma = Math.Sqrt(squares / dim + eps);
            for (int i = 0; i < dim; i++) y[r * dim + i] = x[r * dim + i] / sigma * (weight?[i] ?? 1);
        }
        return y;
    }

    public static double GeluTanh(double x) => 0.5 * x * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));

    public static double GeluErf(double x) => x * NormalCdf(x);

    public static double Silu(double x) => x / (1 + Math.Exp(-x));

    public static double[] SwiGlu(double[] gate, double[] up) => gate.Select((g, i) => Silu(g) * up[i]).ToArray();

    /// <summary>
    /// Φ(x) by Marsaglia's series ½ + φ(x)·(x + x³/3 + x⁵/(3·5) + …): every term has the sign of x, so no
    /// cancellation; absolute error near 1e-16 for the |x| &lt; 10 the tests use.
    /// </summary>
    public static double NormalCdf(double x)
    {
        double term = x, sum = x, x2 = x * x;
        for (int n = 1; n < 500 && Math.Abs(term) > 1e-18 * Math.Abs(sum); n++)
        {
            term *= x2 / (2 * n + 1);
            sum += term;
        }
        return 0.5 + sum * Math.Exp(-0.5 * x2) / Math.Sqrt(2 * Math.PI);
    }

    /// <summary>Rotation of the first rotaryDim dims of each head by the table angles of each row's position.</summary>
    public static double[] Rotary(double[] x, int heads, int headDim, int rotaryDim, float[] cos, float[] sin, int[] positions, bool interleaved)
    {
        var y = (double[])x.Clone();
        int half = rotaryDim / 2, width = heads * headDim;
        for (int t = 0; t < positions.Length; t++)
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < half; i++)
                {
                    int a = t * width + h * headDim + (interleaved ? 2 * i : i);
                    int b = interleaved ? a + 1 : a + half;
                    double c = cos[positions[t] * half + i], s = sin[positions[t] * half + i];
                    y[a] = x[a] * c - x[b] * s;
                    y[b] = x[b] * c + x[a] * s;
                }
        return y;
    }

    public static double[] Embedding(double[] table, int dim, int[] ids)
    {
        var y = new double[ids.Length * dim];
        for (int t = 0; t < ids.Length; t++) Array.Copy(table, ids[t] * dim, y, t * dim, dim);
        return y;
    }

    /// <summary>
    /// Causal attention per sequence: query i of a sequence sees keys j ≤ i (within the sliding window, when one is
    /// set) that are valid; a query that sees none gets z = 0. Query head h reads k/v head h / (heads / kvHeads).
    /// </summary>
    public static double[] CausalAttention(double[] q, double[] k, double[] v, int sequences, int heads, int kvHeads, int headDim,
        double scale, int slidingWindow, bool[]? keyValid)
    {
        int qWidth = heads * headDim, kvWidth = kvHeads * headDim, tokens = q.Length / qWidth / sequences;
        var z = new double[q.Length];
        var weights = new double[tokens];
        for (int s = 0; s < sequences; s++)
            for (int h = 0; h < heads; h++)
            {
                int g = h / (heads / kvHeads);
                for (int i = 0; i < tokens; i++)
                {
                    int qi = (s * tokens + i) * qWidth + h * headDim;
                    double max = double.NegativeInfinity;
                    for (int j = 0; j < tokens; j++)
                    {
                        bool visible = j <= i && (slidingWindow <= 0 || j > i - slidingWindow) && (keyValid?[s * tokens + j] ?? true);
                        if (!visible)
                        {
                            weights[j] = double.NegativeInfinity;
                            continue;
                        }
                        int kj = (s * tokens + j) * kvWidth + g * headDim;
                        double dot = 0;
                        for (int d = 0; d < headDim; d++) dot += q[qi + d] * k[kj + d];
                        weights[j] = scale * dot;
                        max = Math.Max(max, weights[j]);
                    }
                    if (double.IsNegativeInfinity(max)) continue;
                    double total = 0;
                    for (int j = 0; j < tokens; j++) total += weights[j] = Math.Exp(weights[j] - max);
                    for (int j = 0; j < tokens; j++)
                    {
                        int vj = (s * tokens + j) * kvWidth + g * headDim;
                        for (int d = 0; d < headDim; d++) z[qi + d] += weights[j] / total * v[vj + d];
                    }
                }
            }
        return z;
    }

    /// <summary>Mean over non-ignored rows of logsumexp(row) − row[target].</summary>
    public static double CrossEntropy(double[] logits, int vocab, int[] targets, int ignoreIndex)
    {
        double total = 0;
        int counted = 0;
        for (int r = 0; r < targets.Length; r++)
        {
            if (targets[r] == ignoreIndex) continue;
            double max = double.NegativeInfinity, sum = 0;
            for (int c = 0; c < vocab; c++) max = Math.Max(max, logits[r * vocab + c]);
            for (int c = 0; c < vocab; c++) sum += Math.Exp(logits[r * vocab + c] - max);
            total += max + Math.Log(sum) - logits[r * vocab + targets[r]];
            counted++;
        }
        return total / counted;
    }
}
