using System.Globalization;
using System.Text;
using System.Xml;
using System.Xml.Linq;

namespace HeadMiner.Reports;

/// <summary>
/// A self-contained SVG heatmap of a rows × columns table (layers × heads, layers × positions, …): one
/// <c>&lt;rect class="cell"&gt;</c> per cell with a <c>&lt;title&gt;</c> tooltip, row and column labels, axis
/// labels and a colour bar. Nothing outside the file is referenced (no fonts, scripts, stylesheets), so it opens
/// offline. Sequential scale (white → blue) by default; <see cref="Diverging"/> uses blue ← white → red centred on
/// <see cref="Centre"/> for signed values. NaN cells are drawn grey and say "no value".
/// </summary>
public sealed class SvgHeatmap
{
    public const string SvgNamespace = "http://www.w3.org/2000/svg";

    private const double MarginLeft = 90, MarginTop = 50, MarginBottom = 60, ColourBarWidth = 16, ColourBarGap = 24, MarginRight = 90;

    public required double[,] Values { get; init; }
    public string Title { get; init; } = "";
    public string XLabel { get; init; } = "column";
    public string YLabel { get; init; } = "row";

    /// <summary>Row labels (top to bottom) and column labels; default 0, 1, 2, ….</summary>
    public IReadOnlyList<string>? RowLabels { get; init; }
    public IReadOnlyList<string>? ColumnLabels { get; init; }

    /// <summary>Colour range; default the finite values' range (symmetric about <see cref="Centre"/> when diverging).</summary>
    public double? Min { get; init; }
    public double? Max { get; init; }
    public bool Diverging { get; init; }
    public double Centre { get; init; }

    public int CellSize { get; init; } = 34;

    /// <summary>Prints each value inside its cell (when cells are at least 26 px).</summary>
    public bool ShowValues { get; init; } = true;
    public string ValueFormat { get; init; } = "0.00";

    public XDocument ToDocument()
    {
        int rows = Values.GetLength(0), cols = Values.GetLength(1);
        if (rows == 0 || cols == 0) throw new ArgumentException("a heatmap needs at least one row and one column");
        if (RowLabels is not null && RowLabels.Count != rows) throw new ArgumentException($"{RowLabels.Count} row labels for {rows} rows");
        if (ColumnLabels is not null && ColumnLabels.Count != cols) throw new ArgumentException($"{ColumnLabels.Count} column labels for {cols} columns");
        var (min, max) = Range();
        double left = MarginLeft, top = MarginTop, right = left + cols * CellSize, bottom = top + rows * CellSize;
        double width = right + ColourBarGap + ColourBarWidth + MarginRight, height = bottom + MarginBottom;
        width = Math.Max(width, 360);

        XNamespace ns = SvgNamespace;
        var svg = new XElement(ns + "svg",
            new XAttribute("width", F(width)), new XAttribute("height", F(height)), new XAttribute("viewBox", $"0 0 {F(width)} {F(height)}"),
            new XAttribute("font-family", "sans-serif"), new XAttribute("font-size", 12),
            new XElement(ns + "rect", new XAttribute("width", F(width)), new XAttribute("height", F(height)), new XAttribute("fill", "white")));
        if (Title.Length > 0) svg.Add(Text(ns, Title, left, 24, "start", ("font-size", "15"), ("font-weight", "bold")));

        var cells = new XElement(ns + "g", new XAttribute("class", "cells"), new XAttribute("stroke", "white"), new XAttribute("stroke-width", 1));
        var values = new XElement(ns + "g", new XAttribute("class", "values"), new XAttribute("font-size", 10), new XAttribute("text-anchor", "middle"));
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++)
            {
                double v = Values[r, c], x = left + c * CellSize, y = top + r * CellSize;
                string label = double.IsFinite(v) ? v.ToString(ValueFormat, CultureInfo.InvariantCulture) : "no value";
                cells.Add(new XElement(ns + "rect", new XAttribute("class", "cell"),
                    new XAttribute("x", F(x)), new XAttribute("y", F(y)), new XAttribute("width", CellSize), new XAttribute("height", CellSize),
                    new XAttribute("fill", Colour(v, min, max)),
                    new XElement(ns + "title", $"{YLabel} {RowLabel(r)}, {XLabel} {ColumnLabel(c)}: {label}")));
                if (ShowValues && CellSize >= 26 && double.IsFinite(v))
                    values.Add(new XElement(ns + "text", new XAttribute("x", F(x + CellSize / 2.0)), new XAttribute("y", F(y + CellSize / 2.0 + 3.5)),
                        new XAttribute("fill", Lightness(v, min, max) < 0.55 ? "white" : "#222222"), label));
            }
        svg.Add(cells, values);

        var labels = new XElement(ns + "g", new XAttribute("class", "tick-labels"), new XAttribute("fill", "#333333"));
        for (int r = 0; r < rows; r++) labels.Add(Text(ns, RowLabel(r), left - 6, top + (r + 0.5) * CellSize + 4, "end"));
        for (int c = 0; c < cols; c++) labels.Add(Text(ns, ColumnLabel(c), left + (c + 0.5) * CellSize, bottom + 16, "middle"));
        svg.Add(labels);
        svg.Add(With(Text(ns, XLabel, (left + right) / 2, bottom + 40, "middle"), new XAttribute("class", "x-label")));
        double yx = 22, yy = (top + bottom) / 2;
        svg.Add(With(Text(ns, YLabel, yx, yy, "middle"), new XAttribute("class", "y-label"), new XAttribute("transform", $"rotate(-90 {F(yx)} {F(yy)})")));

        // Colour bar: 32 bands from max (top) to min (bottom), labelled at both ends and the middle.
        const int bands = 32;
        double barX = right + ColourBarGap, barHeight = bottom - top;
        var bar = new XElement(ns + "g", new XAttribute("class", "colour-bar"));
        for (int i = 0; i < bands; i++)
        {
            double v = max - (i + 0.5) / bands * (max - min);
            bar.Add(new XElement(ns + "rect", new XAttribute("x", F(barX)), new XAttribute("y", F(top + i * barHeight / bands)),
                new XAttribute("width", ColourBarWidth), new XAttribute("height", F(barHeight / bands + 0.5)), new XAttribute("fill", Colour(v, min, max))));
        }
        bar.Add(new XElement(ns + "rect", new XAttribute("x", F(barX)), new XAttribute("y", F(top)), new XAttribute("width", ColourBarWidth),
            new XAttribute("height", F(barHeight)), new XAttribute("fill", "none"), new XAttribute("stroke", "#333333")));
        foreach (var (v, y) in new[] { (max, top), ((min + max) / 2, (top + bottom) / 2), (min, bottom) })
            bar.Add(Text(ns, v.ToString("0.###", CultureInfo.InvariantCulture), barX + ColourBarWidth + 5, y + 4, "start"));
        svg.Add(bar);
        return new XDocument(svg);
    }

    public string ToSvgString()
    {
        var sb = new StringBuilder();
        using (var writer = XmlWriter.Create(sb, new XmlWriterSettings { Indent = true, OmitXmlDeclaration = true }))
            ToDocument().Save(writer);
        return sb.Append('\n').ToString();
    }

    /// <summary>Writes the heatmap through <see cref="Tensors.AtomicFile"/>.</summary>
    public void Save(string path) => Tensors.AtomicFile.WriteAllText(path, ToSvgString());

    private string RowLabel(int r) => RowLabels?[r] ?? r.ToString(CultureInfo.InvariantCulture);

    private string ColumnLabel(int c) => ColumnLabels?[c] ?? c.ToString(CultureInfo.InvariantCulture);

    private (double Min, double Max) Range()
    {
        double lo = double.PositiveInfinity, hi = double.NegativeInfinity;
        foreach (double v in Values)
            if (double.IsFinite(v))
            {
                lo = Math.Min(lo, v);
                hi = Math.Max(hi, v);
            }
        if (lo > hi) (lo, hi) = (0, 1);
        if (Diverging && Min is null && Max is null)
        {
            double reach = Math.Max(Math.Abs(hi - Centre), Math.Abs(lo - Centre));
            (lo, hi) = (Centre - reach, Centre + reach);
        }
        double min = Min ?? lo, max = Max ?? hi;
        if (!(max > min)) (min, max) = (min - 0.5, min + 0.5); // one value: a range around it
        return (min, max);
    }

    /// <summary>Position 0…1 of v in the range (clamped).</summary>
    private static double Fraction(double v, double min, double max) => Math.Clamp((v - min) / (max - min), 0, 1);

    private double Lightness(double v, double min, double max)
    {
        double t = Fraction(v, min, max);
        return Diverging ? 1 - Math.Abs(2 * t - 1) : 1 - t;
    }

    private string Colour(double v, double min, double max)
    {
        if (!double.IsFinite(v)) return "#bbbbbb";
        double t = Fraction(v, min, max);
        (double R, double G, double B) white = (255, 255, 255), blue = (33, 102, 172), red = (178, 24, 43);
        var (r, g, b) = Diverging
            ? (t < 0.5 ? Mix(blue, white, t * 2) : Mix(white, red, (t - 0.5) * 2))
            : Mix(white, blue, t);
        return $"#{(int)Math.Round(r):x2}{(int)Math.Round(g):x2}{(int)Math.Round(b):x2}";
    }

    private static (double, double, double) Mix((double R, double G, double B) a, (double R, double G, double B) b, double t) =>
        (a.R + (b.R - a.R) * t, a.G + (b.G - a.G) * t, a.B + (b.B - a.B) * t);

    private static string F(double v) => v.ToString("0.##", CultureInfo.InvariantCulture);

    private static XElement Text(XNamespace ns, string text, double x, double y, string anchor, params (string Name, string Value)[] extra)
    {
        var e = new XElement(ns + "text", new XAttribute("x", F(x)), new XAttribute("y", F(y)), new XAttribute("text-anchor", anchor), text);
        foreach (var (name, value) in extra) e.Add(new XAttribute(name, value));
        return e;
    }

    private static XElement With(XElement e, params XAttribute[] attributes)
    {
        e.Add(attributes);
        return e;
    }
}
