namespace HeadMiner.Analysis.Attribution;

/// <summary>Pearson correlation of two equally long series, in double; NaN entries in either drop that pair.</summary>
public static class Pearson
{
    public static double Correlation(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        if (x.Length != y.Length) throw new ArgumentException($"{x.Length} values against {y.Length}");
        double sx = 0, sy = 0;
        int n = 0;
        for (int i = 0; i < x.Length; i++)
        {
            if (float.IsNaN(x[i]) || float.IsNaN(y[i])) continue;
            sx += x[i];
            sy += y[i];
            n++;
        }
        if (n < 2) return double.NaN;
        double mx = sx / n, my = sy / n, cxy = 0, cxx = 0, cyy = 0;
        for (int i = 0; i < x.Length; i++)
        {
            if (float.IsNaN(x[i]) || float.IsNaN(y[i])) continue;
            double dx = x[i] - mx, dy = y[i] - my;
            cxy += dx * dy;
            cxx += dx * dx;
            cyy += dy * dy;
        }
        return cxx == 0 || cyy == 0 ? double.NaN : cxy / Math.Sqrt(cxx * cyy);
    }
}
