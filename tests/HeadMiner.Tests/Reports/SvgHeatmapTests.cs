using System.Xml.Linq;
using HeadMiner.Reports;

namespace HeadMiner.Tests.Reports;

public class SvgHeatmapTests
{
    private static readonly XNamespace Ns = SvgHeatmap.SvgNamespace;

    private static List<XElement> Cells(XDocument doc) =>
        [.. doc.Descendants(Ns + "rect").Where(r => (string?)r.Attribute("class") == "cell")];

    [Fact]
    public void OneCellPerValueWithLabelsTooltipsAndNothingExternal()
    {
        var values = new double[3, 5];
        for (int r = 0; r < 3; r++) for (int c = 0; c < 5; c++) values[r, c] = r * 5 + c;
        values[1, 2] = double.NaN;
        var map = new SvgHeatmap { Values = values, Title = "probe accuracy", XLabel = "head", YLabel = "layer", ColumnLabels = ["a", "b", "c", "d", "e"] };
        string svg = map.ToSvgString();
        var doc = XDocument.Parse(svg);
        var cells = Cells(doc);
        Assert.Equal(15, cells.Count);
        Assert.Equal("#bbbbbb", (string?)cells[7].Attribute("fill"));
        Assert.Contains("layer 1, head c: no value", cells[7].Value);
        Assert.Contains("layer 2, head e: 14.00", cells[14].Value);
        foreach (var label in new[] { "probe accuracy", "head", "layer", "a", "e", "0", "2" })
            Assert.Contains(doc.Descendants(Ns + "text"), t => t.Value == label);
        Assert.DoesNotContain("url(", svg);
        Assert.DoesNotContain("<script", svg);
        Assert.DoesNotContain("@import", svg);
        Assert.DoesNotContain("href", svg);
        Assert.Single(doc.Descendants(), e => e.Attributes().Any(a => a.Value.StartsWith("http", StringComparison.Ordinal)));
    }

    [Fact]
    public void SequentialScaleDarkensWithTheValueAndDivergingIsWhiteAtTheCentre()
    {
        var values = new double[1, 4] { { -1, 0, 0.5, 1 } };
        static int Brightness(XElement cell)
        {
            string hex = ((string)cell.Attribute("fill")!)[1..];
            return Convert.ToInt32(hex[0..2], 16) + Convert.ToInt32(hex[2..4], 16) + Convert.ToInt32(hex[4..6], 16);
        }
        var sequential = Cells(new SvgHeatmap { Values = values }.ToDocument());
        Assert.True(sequential.Zip(sequential.Skip(1)).All(p => Brightness(p.First) > Brightness(p.Second)));
        var diverging = Cells(new SvgHeatmap { Values = values, Diverging = true }.ToDocument());
        Assert.Equal("#ffffff", (string?)diverging[1].Attribute("fill"));
        Assert.NotEqual((string?)diverging[0].Attribute("fill"), (string?)diverging[3].Attribute("fill"));
        var clamped = Cells(new SvgHeatmap { Values = values, Min = 0, Max = 0.5 }.ToDocument());
        Assert.Equal((string?)clamped[2].Attribute("fill"), (string?)clamped[3].Attribute("fill"));
    }

    [Fact]
    public void MismatchedLabelsAreRejected()
    {
        var map = new SvgHeatmap { Values = new double[2, 2], RowLabels = ["only one"] };
        Assert.Throws<ArgumentException>(() => map.ToDocument());
    }
}
