using System.Globalization;
using HeadMiner.Reports;

namespace HeadMiner.Explorer.Tests;

/// <summary>A static report opened from disk (file://) draws its figures with the shared views and fetches nothing.</summary>
[Collection(ExplorerCollection.Name)]
public sealed class ReportBrowserTests(ExplorerFixture fx)
{
    [Fact]
    public async Task A_report_from_disk_draws_heatmap_attention_and_curve_without_network()
    {
        var values = Enumerable.Range(0, 3).Select(r => Enumerable.Range(0, 5).Select(c => (double?)(r - c) / 4).ToArray()).ToArray();
        string[] tokens = ["<s>", " a", " b", " a"];
        var pattern = new float[][] { [1, 0, 0, 0], [0.25f, 0.75f, 0, 0], [0.5f, 0.25f, 0.25f, 0], [0.1f, 0.2f, 0.3f, 0.4f] };
        string file = Path.Combine(RepoPaths.Artifacts, "report-demo.html");
        new HtmlReport("demo report")
            .Heatmap("sweep", ["L0", "L1", "L2"], ["p0", "p1", "p2", "p3", "p4"], values, "layer", "position", diverging: true)
            .Attention("pattern", tokens, pattern)
            .LineChart("curve", "step", "loss", [("train", [0, 1, 2, 3], [4.0, 3.0, 2.5, 2.0])])
            .Write(file);

        var browser = await fx.BrowserAsync();
        var context = await browser.NewContextAsync();
        var page = await context.NewPageAsync();
        var requests = new List<string>();
        page.Request += (_, r) => requests.Add(r.Url);
        await page.GotoAsync(new Uri(file).AbsoluteUri);
        var heat = await page.Locator(".hm-heatmap").First.Locator("rect.hm-cell").EvaluateAllAsync<string[]>("cs => cs.map(c => c.getAttribute('data-value'))");
        Assert.Equal(values.SelectMany(r => r).Select(v => v!.Value), heat.Select(s => double.Parse(s, CultureInfo.InvariantCulture)));
        Assert.Equal(["layer", "position"], await page.Locator(".hm-heatmap").First.Locator(".hm-axis-title").AllTextContentsAsync());
        Assert.Equal(16, await page.Locator(".hm-attention rect.hm-cell").CountAsync());
        Assert.Equal(1, await page.Locator(".hm-line path.hm-series").CountAsync());
        await page.HoverAsync(".hm-tokens .hm-token[data-index=\"3\"]");
        Assert.Contains("0.3", await page.GetAttributeAsync(".hm-tokens .hm-token[data-index=\"2\"]", "title"));
        Assert.All(requests, u => Assert.StartsWith("file://", u));
        await page.ScreenshotAsync(new() { Path = Path.Combine(RepoPaths.Artifacts, "report-demo.png"), FullPage = true });
        await context.CloseAsync();
    }
}
