using System.Globalization;
using System.Text;
using System.Xml;
using System.Xml.Linq;

namespace HeadMiner.Training;

/// <summary>One line of a <see cref="SvgLineChart"/>: points in drawing order.</summary>
public sealed record ChartSeries(string Name, IReadOnlyList<double> X, IReadOnlyList<double> Y);

/// <summary>
/// A self-contained SVG line chart: axes with ticks, tick labels and axis labels, a light grid, a legend, and one
/// <c>&lt;path&gt;</c> per series (nothing else in the document is a path, so a reader can count series). The file
/// references nothing outside itself — no fonts, scripts, stylesheets or images — so it opens anywhere, offline.
/// <para>A point whose x or y is NaN or ±∞ (or y ≤ 0 on a logarithmic axis) cannot be drawn: the line stops before it
/// and starts again after it, so a divergence shows as a gap instead of a line to nowhere. A point with no
/// drawable neighbour is drawn as a dot. The axes span the drawable points only.</para>
/// </summary>
public sealed class SvgLineChart
{
    public const string SvgNamespace = "http://www.w3.org/2000/svg";

    // Colour-blind-safe palette (Okabe–Ito), cycled when there are more series.
    private static readonly string[] Palette = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"];

    private const int MaxTicks = 50;
    private const double MarginLeft = 80, MarginRight = 190, MarginTop = 40, MarginBottom = 55;

    public string Title { get; init; } = "";
    public string XLabel { get; init; } = "x";
    public string YLabel { get; init; } = "y";
    public bool LogarithmicY { get; init; }
    public int Width { get; init; } = 860;
    public int Height { get; init; } = 480;
    public IReadOnlyList<ChartSeries> Series { get; init; } = [];

    public XDocument ToDocument()
    {
        if (Width < MarginLeft + MarginRight + 50 || Height < MarginTop + MarginBottom + 50)
            throw new ArgumentException($"chart of {Width}×{Height} is too small to draw");
        foreach (var s in Series)
            if (s.X.Count != s.Y.Count) throw new ArgumentException($"series {s.Name} has {s.X.Count} x values and {s.Y.Count} y values");

        XNamespace ns = SvgNamespace;
        double left = MarginLeft, right = Width - MarginRight, top = MarginTop, bottom = Height - MarginBottom;
        var (xMin, xMax, xTicks) = LinearAxis(Drawable(s => s.X), pad: false);
        var (yMin, yMax, yTicks) = LogarithmicY
            ? LogAxis(Drawable(s => s.Y).Select(Math.Log10))
            : LinearAxis(Drawable(s => s.Y), pad: true);
        double Sx(double x) => left + (x - xMin) / (xMax - xMin) * (right - left);
        double Sy(double y) => bottom - ((LogarithmicY ? Math.Log10(y) : y) - yMin) / (yMax - yMin) * (bottom - top);

        var svg = new XElement(ns + "svg",
            new XAttribute("width", Width), new XAttribute("height", Height),
            new XAttribute("viewBox", $"0 0 {Width} {Height}"),
            new XAttribute("font-family", "sans-serif"), new XAttribute("font-size", 12),
            new XElement(ns + "rect", new XAttribute("width", Width), new XAttribute("height", Height), new XAttribute("fill", "white")));
        if (Title.Length > 0)
            svg.Add(Text(ns, Title, (left + right) / 2, top - 16, "middle", ("font-size", "15"), ("font-weight", "bold")));

        var grid = new XElement(ns + "g", new XAttribute("class", "grid"), new XAttribute("stroke", "#e4e4e4"), new XAttribute("stroke-width", 1));
        var axes = new XElement(ns + "g", new XAttribute("class", "axes"), new XAttribute("stroke", "#333333"), new XAttribute("stroke-width", 1));
        var labels = new XElement(ns + "g", new XAttribute("class", "tick-labels"), new XAttribute("fill", "#333333"));
        foreach (var (value, label) in xTicks)
        {
            double x = Sx(value);
            grid.Add(Line(ns, x, top, x, bottom));
            axes.Add(Line(ns, x, bottom, x, bottom + 5));
            labels.Add(Text(ns, label, x, bottom + 19, "middle"));
        }
        foreach (var (value, label) in yTicks)
        {
            double y = bottom - (value - yMin) / (yMax - yMin) * (bottom - top);
            grid.Add(Line(ns, left, y, right, y));
            axes.Add(Line(ns, left - 5, y, left, y));
            labels.Add(Text(ns, label, left - 8, y + 4, "end"));
        }
        axes.Add(Line(ns, left, bottom, right, bottom), Line(ns, left, top, left, bottom));
        svg.Add(grid, axes, labels);
        svg.Add(With(Text(ns, XLabel, (left + right) / 2, Height - 14, "middle"), new XAttribute("class", "x-label")));
        double yLabelX = 18, yLabelY = (top + bottom) / 2;
        svg.Add(With(Text(ns, LogarithmicY ? $"{YLabel}, log scale" : YLabel, yLabelX, yLabelY, "middle"),
            new XAttribute("class", "y-label"), new XAttribute("transform", $"rotate(-90 {F(yLabelX)} {F(yLabelY)})")));

        var lines = new XElement(ns + "g", new XAttribute("class", "series"), new XAttribute("fill", "none"),
            new XAttribute("stroke-width", 1.6), new XAttribute("stroke-linejoin", "round"), new XAttribute("stroke-linecap", "round"));
        var legend = new XElement(ns + "g", new XAttribute("class", "legend"));
        for (int i = 0; i < Series.Count; i++)
        {
            var s = Series[i];
            string colour = Palette[i % Palette.Length];
            lines.Add(new XElement(ns + "path", new XAttribute("d", PathData(s, Sx, Sy)), new XAttribute("stroke", colour),
                new XElement(ns + "title", s.Name)));
            double ly = top + 8 + i * 20;
            legend.Add(With(Line(ns, right + 16, ly, right + 40, ly), new XAttribute("stroke", colour), new XAttribute("stroke-width", 3)));
            legend.Add(Text(ns, s.Name, right + 46, ly + 4, "start"));
        }
        svg.Add(lines, legend);
        return new XDocument(svg);
    }

    public string ToSvgString()
    {
        var sb = new StringBuilder();
        using (var writer = XmlWriter.Create(sb, new XmlWriterSettings { Indent = true, OmitXmlDeclaration = true }))
            ToDocument().Save(writer);
        return sb.Append('\n').ToString();
    }

    /// <summary>Writes the chart through <see cref="Tensors.AtomicFile"/>.</summary>
    public void Save(string path) => Tensors.AtomicFile.WriteAllText(path, ToSvgString());

    private bool Plottable(double x, double y) => double.IsFinite(x) && double.IsFinite(y) && (!LogarithmicY || y > 0);

    /// <summary>One coordinate (x or y, chosen by <paramref name="axis"/>) of every drawable point.</summary>
    private IEnumerable<double> Drawable(Func<ChartSeries, IReadOnlyList<double>> axis)
    {
        foreach (var s in Series)
            for (int i = 0; i < s.X.Count; i++)
                if (Plottable(s.X[i], s.Y[i])) yield return axis(s)[i];
    }

    /// <summary>"M x y L x y …", starting a new subpath after every undrawable point; lone points become dots.</summary>
    private string PathData(ChartSeries s, Func<double, double> sx, Func<double, double> sy)
    {
        var d = new StringBuilder();
        int runLength = 0;
        for (int i = 0; i < s.X.Count; i++)
        {
            if (!Plottable(s.X[i], s.Y[i]))
            {
                if (runLength == 1) d.Append(" h0"); // a zero-length segment with round caps renders as a dot
                runLength = 0;
                continue;
            }
            if (d.Length > 0) d.Append(' ');
            d.Append(runLength == 0 ? 'M' : 'L').Append(F(sx(s.X[i]))).Append(' ').Append(F(sy(s.Y[i])));
            runLength++;
        }
        if (runLength == 1) d.Append(" h0");
        return d.ToString();
    }

    /// <summary>Axis range and ticks at 1, 2 or 5 × 10ᵏ spacing; with <paramref name="pad"/> the range gets 4 % headroom.</summary>
    private static (double Min, double Max, List<(double Value, string Label)> Ticks) LinearAxis(IEnumerable<double> values, bool pad)
    {
        double min = double.PositiveInfinity, max = double.NegativeInfinity;
        foreach (double v in values)
        {
            min = Math.Min(min, v);
            max = Math.Max(max, v);
        }
        if (min > max) (min, max) = (0, 1); // nothing drawable: an empty, labelled frame
        if (min == max)
        {
            double half = Math.Abs(min) > 0 ? Math.Abs(min) * 0.05 : 0.5;
            (min, max) = (min - half, max + half);
        }
        else if (pad)
        {
            double headroom = (max - min) * 0.04;
            (min, max) = (min - headroom, max + headroom);
        }
        double step = NiceStep((max - min) / 6);
        int decimals = Math.Max(0, -(int)Math.Floor(Math.Log10(step)));
        var ticks = new List<(double, string)>();
        double first = Math.Ceiling(min / step - 1e-9) * step;
        // Counted, not stepped by k++: far from zero (|value| / step > 2⁵³) adding 1 to a double changes nothing.
        for (int i = 0; i < MaxTicks; i++)
        {
            double v = first + i * step;
            if (!(v <= max + step * 1e-9)) break;
            if (ticks.Count == 0 || v != ticks[^1].Item1) ticks.Add((v, FormatTick(v, decimals)));
        }
        return (min, max, ticks);
    }

    /// <summary>Range in log10 units; ticks at 1, 2, 5 × 10ᵏ (every 1 … 9 × 10ᵏ when that gives fewer than three).</summary>
    private static (double Min, double Max, List<(double Value, string Label)> Ticks) LogAxis(IEnumerable<double> logValues)
    {
        var (min, max, _) = LinearAxis(logValues, pad: true);
        if (max - min < 0.1) (min, max) = ((min + max) / 2 - 0.05, (min + max) / 2 + 0.05);
        var ticks = LogTicks(min, max, [1, 2, 5]);
        if (ticks.Count < 3) ticks = LogTicks(min, max, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
        return (min, max, ticks);
    }

    private static List<(double Value, string Label)> LogTicks(double min, double max, int[] mantissas)
    {
        var ticks = new List<(double, string)>();
        for (int k = (int)Math.Floor(min); k <= (int)Math.Ceiling(max); k++)
            foreach (int m in mantissas)
            {
                double log = Math.Log10(m) + k;
                if (log >= min - 1e-9 && log <= max + 1e-9)
                    ticks.Add((log, FormatTick(m * Math.Pow(10, k), Math.Max(0, -k))));
            }
        return ticks;
    }

    private static double NiceStep(double rough)
    {
        double magnitude = Math.Pow(10, Math.Floor(Math.Log10(rough)));
        double f = rough / magnitude;
        return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * magnitude;
    }

    private static string FormatTick(double v, int decimals)
    {
        if (Math.Abs(v) < 1e-12) return "0";
        if (Math.Abs(v) >= 1e6 || decimals > 5) return v.ToString("0.###E+0", CultureInfo.InvariantCulture);
        return v.ToString("F" + decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
    }

    private static XElement Line(XNamespace ns, double x1, double y1, double x2, double y2) =>
        new(ns + "line", new XAttribute("x1", F(x1)), new XAttribute("y1", F(y1)), new XAttribute("x2", F(x2)), new XAttribute("y2", F(y2)));

    private static XElement Text(XNamespace ns, string text, double x, double y, string anchor, params (string Name, string Value)[] extra)
    {
        var e = new XElement(ns + "text", new XAttribute("x", F(x)), new XAttribute("y", F(y)), new XAttribute("text-anchor", anchor), text);
        foreach (var (name, value) in extra) e.Add(new XAttribute(name, value));
        return e;
    }

    private static XElement With(XElement element, params object[] content)
    {
        element.Add(content);
        return element;
    }

    private static string F(double v) => v.ToString("0.##", CultureInfo.InvariantCulture);
}
