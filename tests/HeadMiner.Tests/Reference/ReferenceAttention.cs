namespace HeadMiner.Tests.Reference;

/// <summary>
/// Attention straight from its definition, in double, one score at a time: the yardstick for the fast kernels in
/// <c>HeadMiner.Tensors.Kernels.Attention</c>. Inputs use the kernels' strided row layout; outputs are dense:
/// z, dq as [queries, heads·headDim], dk, dv as [keys, kvHeads·headDim], scores and pattern as [heads, queries, keys].
/// </summary>
public static class ReferenceAttention
{
    /// <summary>Everything about one attention call except the data.</summary>
    public sealed record Shape(int Queries, int Keys, int Heads, int KvHeads, int HeadDim, double Scale,
        int FirstQueryPosition = 0, int SlidingWindow = 0, bool[]? KeyValid = null, double SoftCap = 0)
    {
        public int QueryWidth => Heads * HeadDim;
        public int KvWidth => KvHeads * HeadDim;
        public int KvHeadOf(int h) => h / (Heads / KvHeads);

        public bool Visible(int i, int j)
        {
            long p = (long)FirstQueryPosition + i;
            if (j > p) return false;
            if (SlidingWindow > 0 && j <= p - SlidingWindow) return false;
            return KeyValid is null || KeyValid[j];
        }
    }

    public sealed record ForwardResult(double[] Z, double[] Scores, double[] Pattern);

    public sealed record Gradients(double[] DQ, double[] DK, double[] DV);

    public static ForwardResult Forward(Shape s, ReadOnlySpan<float> q, int qStride, ReadOnlySpan<float> k, ReadOnlySpan<float> v, int kvStride) =>
        Forward(s, ToDouble(q), qStride, ToDouble(k), ToDouble(v), kvStride);

    public static ForwardResult Forward(Shape s, double[] q, int qStride, double[] k, double[] v, int kvStride)
    {
        int d = s.HeadDim;
        var z = new double[s.Queries * s.QueryWidth];
        var scores = new double[s.Heads * s.Queries * s.Keys];
        var pattern = new double[scores.Length];
        for (int h = 0; h < s.Heads; h++)
        {
            int g = s.KvHeadOf(h);
            for (int i = 0; i < s.Queries; i++)
            {
                int row = (h * s.Queries + i) * s.Keys;
                double max = double.NegativeInfinity;
                bool any = false;
                for (int j = 0; j < s.Keys; j++)
                {
                    if (!s.Visible(i, j))
                    {
                        scores[row + j] = double.NegativeInfinity;
                        continue;
                    }
                    double dot = 0;
                    for (int c = 0; c < d; c++) dot += q[i * qStride + h * d + c] * k[j * kvStride + g * d + c];
                    scores[row + j] = s.SoftCap > 0 ? s.SoftCap * Math.Tanh(s.Scale * dot / s.SoftCap) : s.Scale * dot;
                    max = any ? Math.Max(max, scores[row + j]) : scores[row + j];
                    any = true;
                }
                if (!any) continue; // nothing visible: z and the pattern row stay zero
                double sum = 0;
                for (int j = 0; j < s.Keys; j++)
                    if (s.Visible(i, j)) sum += Math.Exp(scores[row + j] - max);
                for (int j = 0; j < s.Keys; j++)
                {
                    if (!s.Visible(i, j)) continue;
                    double p = Math.Exp(scores[row + j] - max) / sum;
                    pattern[row + j] = p;
                    for (int c = 0; c < d; c++) z[i * s.QueryWidth + h * d + c] += p * v[j * kvStride + g * d + c];
                }
            }
        }
        return new ForwardResult(z, scores, pattern);
    }

    /// <summary>Analytic gradients of Σ dz·z with respect to q, k, v (dz dense [queries, heads·headDim]).</summary>
    public static Gradients Backward(Shape s, double[] q, int qStride, double[] k, double[] v, int kvStride, double[] dz)
    {
        int d = s.HeadDim;
        var pattern = Forward(s, q, qStride, k, v, kvStride).Pattern;
        var dq = new double[s.Queries * s.QueryWidth];
        var dk = new double[s.Keys * s.KvWidth];
        var dv = new double[s.Keys * s.KvWidth];
        var dp = new double[s.Keys];
        for (int h = 0; h < s.Heads; h++)
        {
            int g = s.KvHeadOf(h);
            for (int i = 0; i < s.Queries; i++)
            {
                int row = (h * s.Queries + i) * s.Keys;
                double weighted = 0; // Σ_j p_j dp_j
                for (int j = 0; j < s.Keys; j++)
                {
                    double dot = 0;
                    for (int c = 0; c < d; c++) dot += dz[i * s.QueryWidth + h * d + c] * v[j * kvStride + g * d + c];
                    dp[j] = dot;
                    weighted += pattern[row + j] * dot;
                }
                for (int j = 0; j < s.Keys; j++)
                {
                    double p = pattern[row + j];
                    if (!s.Visible(i, j)) continue;
                    double dScore = p * (dp[j] - weighted) * s.Scale;
                    if (s.SoftCap > 0)
                    {
                        // d(cap·tanh(a/cap))/da = 1 − tanh²(a/cap), a = scale·q·k.
                        double dot = 0;
                        for (int c = 0; c < d; c++) dot += q[i * qStride + h * d + c] * k[j * kvStride + g * d + c];
                        double t = Math.Tanh(s.Scale * dot / s.SoftCap);
                        dScore *= 1 - t * t;
                    }
                    for (int c = 0; c < d; c++)
                    {
                        dq[i * s.QueryWidth + h * d + c] += dScore * k[j * kvStride + g * d + c];
                        dk[j * s.KvWidth + g * d + c] += dScore * q[i * qStride + h * d + c];
                        dv[j * s.KvWidth + g * d + c] += p * dz[i * s.QueryWidth + h * d + c];
                    }
                }
            }
        }
        return new Gradients(dq, dk, dv);
    }

    /// <summary>Masked softmax of given (possibly edited) scores [heads, queries, keys]; masked entries are 0 whatever they hold.</summary>
    public static double[] ScoresToPattern(Shape s, ReadOnlySpan<float> scores)
    {
        var pattern = new double[s.Heads * s.Queries * s.Keys];
        for (int h = 0; h < s.Heads; h++)
            for (int i = 0; i < s.Queries; i++)
            {
                int row = (h * s.Queries + i) * s.Keys;
                double max = double.NegativeInfinity;
                for (int j = 0; j < s.Keys; j++)
                    if (s.Visible(i, j)) max = Math.Max(max, scores[row + j]);
                if (double.IsNegativeInfinity(max)) continue;
                double sum = 0;
                for (int j = 0; j < s.Keys; j++)
                    if (s.Visible(i, j)) sum += Math.Exp(scores[row + j] - max);
                for (int j = 0; j < s.Keys; j++)
                    if (s.Visible(i, j)) pattern[row + j] = Math.Exp(scores[row + j] - max) / sum;
            }
        return pattern;
    }

    /// <summary>z = pattern · v for any pattern [heads, queries, keys], every entry counted.</summary>
    public static double[] ApplyPattern(Shape s, ReadOnlySpan<float> pattern, ReadOnlySpan<float> v, int kvStride)
    {
        int d = s.HeadDim;
        var z = new double[s.Queries * s.QueryWidth];
        for (int h = 0; h < s.Heads; h++)
            for (int i = 0; i < s.Queries; i++)
                for (int j = 0; j < s.Keys; j++)
                {
                    double p = pattern[(h * s.Queries + i) * s.Keys + j];
                    for (int c = 0; c < d; c++) z[i * s.QueryWidth + h * d + c] += p * v[j * kvStride + s.KvHeadOf(h) * d + c];
                }
        return z;
    }

    public static double[] ToDouble(ReadOnlySpan<float> x)
    {
        var r = new double[x.Length];
        for (int i = 0; i < x.Length; i++) r[i] = x[i];
        return r;
    }
}
