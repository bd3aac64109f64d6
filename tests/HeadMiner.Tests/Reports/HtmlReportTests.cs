using System.Text.Json;
using HeadMiner.Reports;

namespace HeadMiner.Tests.Reports;

public class HtmlReportTests
{
    /// <summary>The inline data of a report written by <see cref="HtmlReport"/> (what its script renders).</summary>
    internal static JsonElement DataOf(string html)
    {
        const string open = "<script type=\"application/json\" id=\"hm-report-data\">";
        int start = html.IndexOf(open, StringComparison.Ordinal);
        Assert.True(start >= 0, "no inline report data");
        start += open.Length;
        int end = html.IndexOf("</script>", start, StringComparison.Ordinal);
        return JsonDocument.Parse(html[start..end]).RootElement.Clone();
    }

    [Fact]
    public void ReportIsSelfContainedAndCarriesTheDataOfEachSection()
    {
        var values = new double?[][] { [0.5, -1.25, null], [double.NaN, 2, 0] };
        string html = new HtmlReport("demo")
            .Heatmap("grid", ["r0", "r1"], ["c0", "c1", "c2"], values, "layer", "position", diverging: true)
            .LineChart("curve", "step", "loss", [("train", [0, 10, 20], [3.0, double.PositiveInfinity, 1.0])])
            .Render();
        Assert.DoesNotContain("src=", html);
        Assert.DoesNotContain("href=", html);
        Assert.Contains("HMViews.renderReport()", html);
        Assert.Contains(ReportAssets.Script.Trim()[..60], html);
        var sections = DataOf(html).GetProperty("sections");
        Assert.Equal("heatmap", sections[0].GetProperty("kind").GetString());
        Assert.Equal("diverging", sections[0].GetProperty("scale").GetString());
        var grid = sections[0].GetProperty("values");
        Assert.Equal(-1.25, grid[0][1].GetDouble());
        Assert.Equal(JsonValueKind.Null, grid[0][2].ValueKind);
        Assert.Equal(JsonValueKind.Null, grid[1][0].ValueKind); // NaN is not JSON: drawn as a gap
        Assert.Equal(JsonValueKind.Null, sections[1].GetProperty("series")[0].GetProperty("y")[1].ValueKind);
    }

    [Fact]
    public void LabelsThatLookLikeMarkupCannotCloseTheDataScript()
    {
        string evil = "</script><script>alert(1)</script>";
        string html = new HtmlReport("a <b> & c").Heatmap("t", [evil], [evil], [[1.0]], "x", "y").Render();
        Assert.DoesNotContain("<script>alert", html);
        Assert.Contains("<title>a &lt;b&gt; &amp; c</title>", html);
        Assert.Equal(evil, DataOf(html).GetProperty("sections")[0].GetProperty("rows")[0].GetString());
    }

    [Fact]
    public void MismatchedShapesAreRejectedNamingTheFigure()
    {
        var e = Assert.Throws<ArgumentException>(() => new HtmlReport("x").Heatmap("sweep", ["a"], ["b", "c"], [[1.0]], "r", "c"));
        Assert.Contains("sweep", e.Message);
        Assert.Throws<ArgumentException>(() => new HtmlReport("x").LineChart("curve", "s", "l", [("train", [1, 2], [1.0])]));
        Assert.Throws<ArgumentException>(() => new HtmlReport("x").Attention("att", ["a", "b"], [[1f, 0f]]));
    }

    [Fact]
    public void WriteReplacesTheFileAtomically()
    {
        using var dir = TestPaths.NewTempDirectory();
        var report = new HtmlReport("one").Text("hello");
        report.Write(dir.File("r.html"));
        Assert.Equal(report.Render(), File.ReadAllText(dir.File("r.html")));
        Assert.Single(Directory.GetFiles(dir.Path));
    }
}
