using System.Numerics;

namespace HeadMiner.Analysis.Detectors;

/// <summary>
/// Eigenvalues of a small real square matrix (not necessarily symmetric), as complex numbers: reduction to upper
/// Hessenberg form by Gaussian elimination with pivoting, then the Francis double-shift QR iteration, in double
/// precision. Used on d_head × d_head OV-circuit factors (64 × 64 for GPT-2), so an O(n³) dense method is plenty.
/// </summary>
public static class RealEigenvalues
{
    /// <param name="matrix">Row-major n × n.</param>
    public static Complex[] Compute(ReadOnlySpan<double> matrix, int n)
    {
        if (matrix.Length != n * n) throw new ArgumentException($"{matrix.Length} values do not form a {n}×{n} matrix", nameof(matrix));
        if (n == 0) return [];
        // 1-based working copy: the iteration's index arithmetic reads most clearly that way.
        var a = new double[n + 1, n + 1];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) a[i + 1, j + 1] = matrix[i * n + j];
        if (!double.IsFinite(a.Cast<double>().Sum(Math.Abs))) throw new HeadMinerException("eigenvalues of a matrix with non-finite entries");
        ToHessenberg(a, n);
        var (re, im) = HessenbergQr(a, n);
        var result = new Complex[n];
        for (int i = 0; i < n; i++) result[i] = new Complex(re[i + 1], im[i + 1]);
        return result;
    }

    /// <summary>Similarity transforms (row/column swaps and eliminations) to upper Hessenberg form; entries below the subdiagonal end as 0.</summary>
    private static void ToHessenberg(double[,] a, int n)
    {
        for (int m = 2; m < n; m++)
        {
            double x = 0;
            int pivot = m;
            for (int j = m; j <= n; j++)
                if (Math.Abs(a[j, m - 1]) > Math.Abs(x)) (x, pivot) = (a[j, m - 1], j);
            if (pivot != m)
            {
                for (int j = m - 1; j <= n; j++) (a[pivot, j], a[m, j]) = (a[m, j], a[pivot, j]);
                for (int j = 1; j <= n; j++) (a[j, pivot], a[j, m]) = (a[j, m], a[j, pivot]);
            }
            if (x == 0) continue;
            for (int i = m + 1; i <= n; i++)
            {
                double y = a[i, m - 1];
                if (y == 0) continue;
                y /= x;
                for (int j = m; j <= n; j++) a[i, j] -= y * a[m, j];
                for (int j = 1; j <= n; j++) a[j, m] += y * a[j, i];
            }
        }
        for (int i = 3; i <= n; i++)
            for (int j = 1; j < i - 1; j++) a[i, j] = 0;
    }

    private static double Sign(double magnitude, double sign) => sign >= 0 ? Math.Abs(magnitude) : -Math.Abs(magnitude);

    /// <summary>Francis double-shift QR on an upper Hessenberg matrix, deflating 1×1 and 2×2 blocks from the bottom.</summary>
    private static (double[] Re, double[] Im) HessenbergQr(double[,] a, int n)
    {
        var wr = new double[n + 1];
        var wi = new double[n + 1];
        double norm = 0;
        for (int i = 1; i <= n; i++)
            for (int j = Math.Max(i - 1, 1); j <= n; j++) norm += Math.Abs(a[i, j]);
        int nn = n, l;
        double t = 0, p = 0, q = 0, r = 0, x, y, z, w, s;
        while (nn >= 1)
        {
            int its = 0;
            do
            {
                // Look for a negligible subdiagonal element that splits the matrix.
                for (l = nn; l >= 2; l--)
                {
                    s = Math.Abs(a[l - 1, l - 1]) + Math.Abs(a[l, l]);
                    if (s == 0) s = norm;
                    if (Math.Abs(a[l, l - 1]) + s == s)
                    {
                        a[l, l - 1] = 0;
                        break;
                    }
                }
                x = a[nn, nn];
                if (l == nn)
                {
                    wr[nn] = x + t;
                    wi[nn--] = 0;
                    continue;
                }
                y = a[nn - 1, nn - 1];
                w = a[nn, nn - 1] * a[nn - 1, nn];
                if (l == nn - 1)
                {
                    // A 2×2 block: its two eigenvalues in closed form.
                    p = 0.5 * (y - x);
                    q = p * p + w;
                    z = Math.Sqrt(Math.Abs(q));
                    x += t;
                    if (q >= 0)
                    {
                        z = p + Sign(z, p);
                        wr[nn - 1] = wr[nn] = x + z;
                        if (z != 0) wr[nn] = x - w / z;
                        wi[nn - 1] = wi[nn] = 0;
                    }
                    else
                    {
                        wr[nn - 1] = wr[nn] = x + p;
                        wi[nn - 1] = -(wi[nn] = z);
                    }
                    nn -= 2;
                    continue;
                }
                if (its == 60) throw new HeadMinerException($"eigenvalues of a {n}×{n} matrix did not converge in 60 QR iterations");
                if (its % 10 == 0 && its > 0)
                {
                    // Exceptional shift against cycling.
                    t += x;
                    for (int i = 1; i <= nn; i++) a[i, i] -= x;
                    s = Math.Abs(a[nn, nn - 1]) + Math.Abs(a[nn - 1, nn - 2]);
                    y = x = 0.75 * s;
                    w = -0.4375 * s * s;
                }
                its++;
                int m;
                for (m = nn - 2; m >= l; m--)
                {
                    z = a[m, m];
                    r = x - z;
                    s = y - z;
                    p = (r * s - w) / a[m + 1, m] + a[m, m + 1];
                    q = a[m + 1, m + 1] - z - r - s;
                    r = a[m + 2, m + 1];
                    s = Math.Abs(p) + Math.Abs(q) + Math.Abs(r);
                    p /= s;
                    q /= s;
                    r /= s;
                    if (m == l) break;
                    double u = Math.Abs(a[m, m - 1]) * (Math.Abs(q) + Math.Abs(r));
                    double v = Math.Abs(p) * (Math.Abs(a[m - 1, m - 1]) + Math.Abs(z) + Math.Abs(a[m + 1, m + 1]));
                    if (u + v == v) break;
                }
                for (int i = m + 2; i <= nn; i++)
                {
                    a[i, i - 2] = 0;
                    if (i != m + 2) a[i, i - 3] = 0;
                }
                for (int k = m; k <= nn - 1; k++)
                {
                    if (k != m)
                    {
                        p = a[k, k - 1];
                        q = a[k + 1, k - 1];
                        r = k != nn - 1 ? a[k + 2, k - 1] : 0;
                        if ((x = Math.Abs(p) + Math.Abs(q) + Math.Abs(r)) != 0)
                        {
                            p /= x;
                            q /= x;
                            r /= x;
                        }
                    }
                    if ((s = Sign(Math.Sqrt(p * p + q * q + r * r), p)) == 0) continue;
                    if (k == m)
                    {
                        if (l != m) a[k, k - 1] = -a[k, k - 1];
                    }
                    else a[k, k - 1] = -s * x;
                    p += s;
                    x = p / s;
                    y = q / s;
                    z = r / s;
                    q /= p;
                    r /= p;
                    for (int j = k; j <= nn; j++)
                    {
                        p = a[k, j] + q * a[k + 1, j];
                        if (k != nn - 1)
                        {
                            p += r * a[k + 2, j];
                            a[k + 2, j] -= p * z;
                        }
                        a[k + 1, j] -= p * y;
                        a[k, j] -= p * x;
                    }
                    int last = Math.Min(nn, k + 3);
                    for (int i = l; i <= last; i++)
                    {
                        p = x * a[i, k] + y * a[i, k + 1];
                        if (k != nn - 1)
                        {
                            p += z * a[i, k + 2];
                            a[i, k + 2] -= p * r;
                        }
                        a[i, k + 1] -= p * q;
                        a[i, k] -= p;
                    }
                }
            } while (l < nn - 1);
        }
        return (wr, wi);
    }
}
