namespace HeadMiner.Tests.Autodiff;

/// <summary>Central finite differences of double-precision functions, and the relative error the checks assert on.</summary>
internal static class FiniteDifference
{
    /// <summary>
    /// Step for inputs of order 1: truncation error ~h²·f‴ ≈ 1e-10 and rounding ~1e-16/h ≈ 1e-11, both far below the
    /// float gradients' own error (~1e-6).
    /// </summary>
    public const double Step = 1e-5;

    /// <summary>∂f/∂x[input][index] by (f(x + h) − f(x − h)) / 2h; x is restored afterwards.</summary>
    public static double Derivative(Func<double[][], double> f, double[][] x, int input, int index)
    {
        double saved = x[input][index];
        x[input][index] = saved + Step;
        double up = f(x);
        x[input][index] = saved - Step;
        double down = f(x);
        x[input][index] = saved;
        return (up - down) / (2 * Step);
    }

    /// <summary>
    /// |a − b| / max(|a|, |b|, floor): relative where the gradient is sizeable, absolute (against
    /// <paramref name="floor"/>, e.g. 1e-3 · the tensor's largest gradient) where it is tiny and float rounding of
    /// cancelling terms would make a pure relative error meaningless.
    /// </summary>
    public static double RelativeError(double actual, double expected, double floor) =>
        Math.Abs(actual - expected) / Math.Max(Math.Max(Math.Abs(actual), Math.Abs(expected)), Math.Max(floor, 1e-30));

    public static double[] ToDouble(ReadOnlySpan<float> values)
    {
        var result = new double[values.Length];
        for (int i = 0; i < values.Length; i++) result[i] = values[i];
        return result;
    }

    public static double Dot(double[] a, double[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }

    public static double MaxAbs(ReadOnlySpan<float> values)
    {
        double max = 0;
        foreach (float v in values) max = Math.Max(max, Math.Abs(v));
        return max;
    }
}
