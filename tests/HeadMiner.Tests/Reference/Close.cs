using System.Globalization;
using Xunit.Sdk;

namespace HeadMiner.Tests.Reference;

/// <summary>
/// Closeness assertions for kernel outputs against double references. Special values must match exactly in kind:
/// NaN only where the reference is NaN, ±∞ only where the reference has the same infinity.
/// </summary>
public static class Close
{
    /// <summary>Per element: |actual − expected| ≤ rtol·|expected| + atol (atol covers results that underflow float).</summary>
    public static void Elementwise(ReadOnlySpan<float> actual, ReadOnlySpan<double> expected, double rtol = 1e-5, double atol = 1e-37, string what = "value")
    {
        Check(actual.Length, expected.Length, what);
        for (int i = 0; i < actual.Length; i++) CheckOne(actual[i], expected[i], rtol * Math.Abs(expected[i]) + atol, what, i);
    }

    /// <summary>
    /// Per element, relative to the output's scale: |actual − expected| ≤ rtol·(|expected| + rms(expected)). For outputs
    /// that are sums with cancellation (gradients, normalised values, rotations), where an element near zero carries
    /// the absolute error of its larger neighbours.
    /// </summary>
    public static void Scaled(ReadOnlySpan<float> actual, ReadOnlySpan<double> expected, double rtol = 1e-5, string what = "value")
    {
        Check(actual.Length, expected.Length, what);
        double rms = Rms(expected);
        for (int i = 0; i < actual.Length; i++) CheckOne(actual[i], expected[i], rtol * (Math.Abs(expected[i]) + rms), what, i);
    }

    /// <summary><see cref="Scaled(ReadOnlySpan{float}, ReadOnlySpan{double}, double, string)"/> for two double vectors.</summary>
    public static void Scaled(ReadOnlySpan<double> actual, ReadOnlySpan<double> expected, double rtol, string what = "value")
    {
        Check(actual.Length, expected.Length, what);
        double rms = Rms(expected);
        for (int i = 0; i < actual.Length; i++) CheckOne(actual[i], expected[i], rtol * (Math.Abs(expected[i]) + rms), what, i);
    }

    private static double Rms(ReadOnlySpan<double> x)
    {
        double s = 0;
        int n = 0;
        foreach (double v in x)
        {
            if (!double.IsFinite(v)) continue;
            s += v * v;
            n++;
        }
        return n == 0 ? 0 : Math.Sqrt(s / n);
    }

    private static void Check(int actual, int expected, string what)
    {
        if (actual != expected) throw new XunitException($"{what}: {actual} values, expected {expected}");
    }

    private static void CheckOne(double a, double e, double tolerance, string what, int i)
    {
        bool ok = double.IsNaN(e) ? double.IsNaN(a)
            : double.IsInfinity(e) ? a == e
            : double.IsFinite(a) && Math.Abs(a - e) <= tolerance;
        if (!ok)
            throw new XunitException(string.Create(CultureInfo.InvariantCulture,
                $"{what}[{i}] = {a:R}, expected {e:R} (error {Math.Abs(a - e):G3}, tolerance {tolerance:G3})"));
    }
}
