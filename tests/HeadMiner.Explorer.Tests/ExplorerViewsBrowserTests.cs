using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using HeadMiner.Analysis.Atlas;
using HeadMiner.Analysis.Catalog;
using HeadMiner.Models;
using HeadMiner.Reports;
using Microsoft.Playwright;

namespace HeadMiner.Explorer.Tests;

/// <summary>
/// The explorer's views in headless Chromium, each checked against the API or the atlas it draws: the landing atlas
/// grid and a head's card, the token view's hover, the information flow, two atlases side by side, and the same atlas
/// view in a static atlas.html opened from disk. Screenshots go to <see cref="RepoPaths.Artifacts"/>.
/// </summary>
[Collection(ExplorerCollection.Name)]
public sealed class ExplorerViewsBrowserTests(ExplorerFixture fx)
{
    private static double Number(string s) => double.Parse(s, CultureInfo.InvariantCulture);

    [Fact]
    public async Task Landing_view_is_the_atlas_grid_by_head_type_and_a_click_opens_the_heads_card()
    {
        var atlas = TestModel.Atlas;
        var page = await BrowserPages.OpenExplorerAsync(fx, fx.Server.Url);
        var cells = await page.Locator("#atlas-grid .hm-atlas-cell").EvaluateAllAsync<string[][]>(
            "cs => cs.map(c => [c.getAttribute('data-layer'), c.getAttribute('data-head'), c.getAttribute('data-type')])");
        Assert.Equal(TestModel.Layers * TestModel.Heads, cells.Length);
        string TypeOf(int l, int h) => atlas.Heads.FirstOrDefault(x => x.Layer == l && x.Head == h)?.Labels.FirstOrDefault()?.Type ?? "";
        foreach (var c in cells) Assert.Equal(TypeOf(int.Parse(c[0], CultureInfo.InvariantCulture), int.Parse(c[1], CultureInfo.InvariantCulture)), c[2]);
        var legend = await page.Locator("#atlas-grid .hm-atlas-legend-item[data-type]").EvaluateAllAsync<string[]>("xs => xs.map(x => x.getAttribute('data-type'))");
        Assert.Equal(atlas.Heads.Where(x => x.Labels.Count > 0).Select(x => x.Labels[0].Type).Distinct().Order(), legend.Order());
        // The page opened on the first example prompt, already run: the tokens are there without typing anything.
        Assert.NotEmpty(await page.InputValueAsync("#prompt"));
        Assert.True(await page.Locator("#tokens .hm-token").CountAsync() > 1);

        // The head to open: one with a causally graded label and papers behind it.
        var target = atlas.Heads.First(x => x.Labels.Any(l => l.Grade is "causally_confirmed" or "pattern_only" && l.Interval is not null)
            && x.Labels.Any(l => HeadCatalog.Load().Find(l.Type)?.Papers.Count > 0));
        await page.ClickAsync($"#atlas-grid .hm-atlas-cell[data-layer=\"{target.Layer}\"][data-head=\"{target.Head}\"]");
        await page.WaitForSelectorAsync($"#head-details .hm-head-card[data-layer=\"{target.Layer}\"][data-head=\"{target.Head}\"]");
        Assert.Equal(target.Layer.ToString(CultureInfo.InvariantCulture), await page.InputValueAsync("#layer"));
        Assert.Equal(target.Head.ToString(CultureInfo.InvariantCulture), await page.InputValueAsync("#head"));

        var rows = await page.Locator("#head-details .hm-card-labels tbody tr").EvaluateAllAsync<string[][]>(
            "rs => rs.map(r => [r.getAttribute('data-type'), r.getAttribute('data-score'), r.getAttribute('data-interval'), r.getAttribute('data-grade')])");
        Assert.Equal(target.Labels.Count, rows.Length);
        for (int i = 0; i < rows.Length; i++)
        {
            var label = target.Labels[i];
            Assert.Equal(label.Type, rows[i][0]);
            Assert.Equal(label.Score, Number(rows[i][1]), 6);
            if (label.Interval is { } interval)
            {
                var shown = rows[i][2].Split(',').Select(Number).ToArray();
                Assert.Equal(interval[0], shown[0], 6);
                Assert.Equal(interval[1], shown[1], 6);
            }
            Assert.Equal(label.Grade ?? "", rows[i][3]);
        }
        foreach (string type in target.Labels.Select(l => l.Type).Distinct())
        {
            var papers = await page.Locator($"#head-details .hm-card-papers[data-type=\"{type}\"] li a").EvaluateAllAsync<string[]>("as => as.map(a => a.getAttribute('href'))");
            Assert.Equal(HeadCatalog.Load().Get(type).Papers.Select(p => p.Url).Where(u => u.StartsWith("http", StringComparison.Ordinal)), papers);
        }
        Assert.Equal(target.TopAttended.Count, await page.Locator("#head-details .hm-card-attended tbody tr").CountAsync());

        // Its attention on the prompt in the box (the example the page ran), equal to the API's pattern of that head.
        await page.WaitForSelectorAsync("#head-details .card-attention rect.hm-cell");
        var (_, api) = await fx.PostAsync("/api/pattern", new { model = ExplorerFixture.WithAtlas, prompt = await page.InputValueAsync("#prompt"), layer = target.Layer, head = target.Head });
        var pattern = api.GetProperty("patterns")[0];
        var tokens = api.GetProperty("tokens").EnumerateArray().Select(t => t.GetString()!).ToArray();
        Assert.Equal(tokens, await page.Locator("#head-details .card-attention .hm-token").AllTextContentsAsync());
        var grid = await page.Locator("#head-details .card-attention rect.hm-cell").EvaluateAllAsync<string[][]>(
            "cs => cs.map(c => [c.getAttribute('data-row'), c.getAttribute('data-col'), c.getAttribute('data-value')])");
        Assert.Equal(tokens.Length * tokens.Length, grid.Length);
        foreach (var c in grid) Assert.Equal(pattern[int.Parse(c[0], CultureInfo.InvariantCulture)][int.Parse(c[1], CultureInfo.InvariantCulture)].GetDouble(), Number(c[2]), 6);
        await page.Locator("#head-details details.hm-card-scores summary").ClickAsync();
        await BrowserPages.ShotAsync(page, "atlas-landing-head-card");
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task Hovering_a_token_shows_where_it_attends_and_what_attends_to_it()
    {
        const int layer = 2, head = 1, hovered = 3;
        var page = await BrowserPages.OpenExplorerAsync(fx, fx.Server.Url);
        await page.SelectOptionAsync("#layer", layer.ToString(CultureInfo.InvariantCulture));
        await BrowserPages.RunPromptAsync(page, TestModel.Prompt);
        await page.SelectOptionAsync("#head", head.ToString(CultureInfo.InvariantCulture));
        var (_, api) = await fx.PostAsync("/api/pattern", new { model = ExplorerFixture.WithAtlas, prompt = TestModel.Prompt, layer, head });
        var pattern = api.GetProperty("patterns")[0];
        int n = pattern.GetArrayLength();

        async Task AssertShows(int i)
        {
            var marks = await page.Locator("#hover .hm-token").EvaluateAllAsync<string[][]>(
                "ts => ts.map(t => [t.getAttribute('data-attention-from'), t.getAttribute('data-attention-to'), t.classList.contains('hm-query') ? 'q' : ''])");
            Assert.Equal(n, marks.Length);
            for (int k = 0; k < n; k++)
            {
                if (k <= i)
                {
                    Assert.Equal(pattern[i][k].GetDouble(), Number(marks[k][0]), 6); // where token i attends
                    Assert.Equal("", marks[k][1]);
                }
                else
                {
                    Assert.Equal(pattern[k][i].GetDouble(), Number(marks[k][1]), 6); // how much later token k attends to i
                    Assert.Equal("", marks[k][0]);
                }
                Assert.Equal(k == i ? "q" : "", marks[k][2]);
            }
        }

        await page.HoverAsync($"#hover .hm-token[data-index=\"{hovered}\"]");
        await AssertShows(hovered);
        Assert.StartsWith("attention to", await page.Locator($"#hover .hm-token[data-index=\"{n - 1}\"]").GetAttributeAsync("title") ?? "");
        await BrowserPages.ShotAsync(page, "token-hover");
        // A click pins a token: moving away keeps its view.
        await page.ClickAsync($"#hover .hm-token[data-index=\"{hovered + 1}\"]");
        await page.HoverAsync("#prompt");
        await AssertShows(hovered + 1);
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task Flow_view_draws_the_routes_the_api_gives_and_follows_the_threshold()
    {
        var page = await BrowserPages.OpenExplorerAsync(fx, fx.Server.Url);
        await BrowserPages.RunPromptAsync(page, TestModel.Prompt);
        var (_, api) = await fx.PostAsync("/api/flow", new { model = ExplorerFixture.WithAtlas, prompt = TestModel.Prompt, threshold = 0.04 });
        await AssertEdgesEqual(page, api);
        var last = api.GetProperty("last");
        var shares = await page.Locator("#flow .hm-flow-last-shares rect.hm-cell").EvaluateAllAsync<string[][]>(
            "cs => cs.map(c => [c.getAttribute('data-row'), c.getAttribute('data-col'), c.getAttribute('data-value')])");
        Assert.Equal(TestModel.Layers * (TestModel.Heads + 1), shares.Length);
        foreach (var c in shares)
        {
            int l = int.Parse(c[0], CultureInfo.InvariantCulture), col = int.Parse(c[1], CultureInfo.InvariantCulture);
            double expected = col < TestModel.Heads ? last.GetProperty("heads")[l][col].GetDouble() : last.GetProperty("mlp")[l].GetDouble();
            Assert.Equal(expected, Number(c[2]), 9);
        }
        Assert.Contains(await page.Locator("#flow path.hm-flow-edge").EvaluateAllAsync<string[]>("ps => ps.map(p => p.getAttribute('data-kind'))"), k => k == "head");
        await page.Locator("#flow-section").ScreenshotAsync(new LocatorScreenshotOptions { Path = Path.Combine(RepoPaths.Artifacts, "flow.png") });

        // A higher threshold: the page asks again and draws the fewer edges the API gives.
        await page.FillAsync("#flow-threshold", "0.15");
        await page.DispatchEventAsync("#flow-threshold", "change");
        await page.WaitForFunctionAsync("() => document.body.getAttribute('data-flows') === '1'");
        var (_, strict) = await fx.PostAsync("/api/flow", new { model = ExplorerFixture.WithAtlas, prompt = TestModel.Prompt, threshold = 0.15 });
        Assert.True(strict.GetProperty("edges").GetArrayLength() < api.GetProperty("edges").GetArrayLength());
        await AssertEdgesEqual(page, strict);
        await page.Context.CloseAsync();
    }

    private static async Task AssertEdgesEqual(IPage page, JsonElement api)
    {
        string Key(string kind, string layer, string head, string from, string to) => $"{kind}|{layer}|{head}|{from}|{to}";
        var expected = api.GetProperty("edges").EnumerateArray().Select(e => (Key(e.GetProperty("kind").GetString()!, e.GetProperty("layer").GetInt32().ToString(CultureInfo.InvariantCulture),
            e.GetProperty("head").ValueKind == JsonValueKind.Null ? "" : e.GetProperty("head").GetInt32().ToString(CultureInfo.InvariantCulture),
            string.Join(",", e.GetProperty("from").EnumerateArray().Select(x => x.GetInt32())), string.Join(",", e.GetProperty("to").EnumerateArray().Select(x => x.GetInt32()))),
            e.GetProperty("share").GetDouble())).OrderBy(x => x.Item1, StringComparer.Ordinal).ToArray();
        var drawn = (await page.Locator("#flow path.hm-flow-edge").EvaluateAllAsync<string[][]>(
            "ps => ps.map(p => ['kind', 'layer', 'head', 'from', 'to', 'share'].map(a => p.getAttribute('data-' + a)))"))
            .Select(a => (Key(a[0], a[1], a[2], a[3], a[4]), Number(a[5]))).OrderBy(x => x.Item1, StringComparer.Ordinal).ToArray();
        Assert.Equal(expected.Length, drawn.Length);
        for (int i = 0; i < drawn.Length; i++)
        {
            Assert.Equal(expected[i].Item1, drawn[i].Item1);
            Assert.Equal(expected[i].Item2, drawn[i].Item2, 9);
        }
    }

    [Fact]
    public async Task Two_models_atlases_side_by_side()
    {
        // The embedded model next to a different one: the GPT-2 parity fixture (2 layers, no tokenizer), each with its saved atlas.
        await using var server = await ExplorerServer.StartAsync(new ExplorerOptions
        {
            Models = [new ExplorerModelSpec(TestModel.Path, TestModel.AtlasPath), new ExplorerModelSpec(SecondModel.Path, SecondModel.AtlasPath)],
            Port = 0,
        });
        var page = await BrowserPages.OpenExplorerAsync(fx, server.Url);
        string second = server.Models[1].Id;
        await page.SelectOptionAsync("#compare-model", second);
        await page.WaitForSelectorAsync($"#compare .compare-side[data-model=\"{second}\"] .hm-atlas-cell");
        var sides = await page.Locator("#compare .compare-side").EvaluateAllAsync<string[]>("ss => ss.map(s => s.getAttribute('data-model'))");
        Assert.Equal([TestModel.Id, second], sides);
        Assert.Equal(TestModel.Layers * TestModel.Heads, await page.Locator($"#compare .compare-side[data-model=\"{TestModel.Id}\"] .hm-atlas-cell").CountAsync());
        var other = SecondModel.Atlas;
        Assert.Equal(other.Model.Layers * other.Model.Heads, await page.Locator($"#compare .compare-side[data-model=\"{second}\"] .hm-atlas-cell").CountAsync());

        // Per head type, which heads carry it in each model.
        var rows = await page.Locator("#compare .hm-table tbody tr").EvaluateAllAsync<string[][]>("rs => rs.map(r => Array.from(r.cells).map(c => c.textContent))");
        string Heads(AtlasReport a, string type) => string.Join(" ", a.Heads.Where(x => x.Labels.Any(l => l.Type == type)).Select(x => $"L{x.Layer}H{x.Head}")) is { Length: > 0 } s ? s : "—";
        var types = TestModel.Atlas.Heads.Concat(other.Heads).SelectMany(x => x.Labels).Select(l => l.Type).Distinct().Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(types, rows.Select(r => r[0]));
        foreach (var r in rows)
        {
            Assert.Equal(Heads(TestModel.Atlas, r[0]), r[1]);
            Assert.Equal(Heads(other, r[0]), r[2]);
        }
        // A click on the second model's grid opens that model's card under it.
        await page.ClickAsync($"#compare .compare-side[data-model=\"{second}\"] .hm-atlas-cell[data-layer=\"1\"][data-head=\"0\"]");
        await page.WaitForSelectorAsync($"#compare .compare-side[data-model=\"{second}\"] .hm-head-card[data-layer=\"1\"][data-head=\"0\"]");
        await page.Locator("#compare-section").ScrollIntoViewIfNeededAsync();
        await page.Locator("#compare-section").ScreenshotAsync(new LocatorScreenshotOptions { Path = Path.Combine(RepoPaths.Artifacts, "side-by-side.png") });
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task Static_atlas_html_opens_on_the_same_grid_and_head_card_without_network()
    {
        var atlas = TestModel.Atlas;
        string file = Path.Combine(RepoPaths.Artifacts, "atlas-embedded.html");
        AtlasHtml.Build(atlas).Write(file);
        var page = await BrowserPages.NewAsync(fx);
        var requests = new List<string>();
        page.Request += (_, r) => requests.Add(r.Url);
        await page.GotoAsync(new Uri(file).AbsoluteUri);
        Assert.Equal(TestModel.Layers * TestModel.Heads, await page.Locator(".hm-atlas-grid .hm-atlas-cell").CountAsync());
        // It opens on the first labelled head's card; a click opens another's.
        var first = atlas.Heads.First(x => x.Labels.Count > 0);
        Assert.Equal(1, await page.Locator($".hm-head-card[data-layer=\"{first.Layer}\"][data-head=\"{first.Head}\"]").CountAsync());
        var target = atlas.Heads.Last(x => x.Labels.Count > 0);
        await page.ClickAsync($".hm-atlas-grid .hm-atlas-cell[data-layer=\"{target.Layer}\"][data-head=\"{target.Head}\"]");
        await page.WaitForSelectorAsync($".hm-head-card[data-layer=\"{target.Layer}\"][data-head=\"{target.Head}\"]");
        var types = await page.Locator(".hm-head-card .hm-card-labels tbody tr").EvaluateAllAsync<string[]>("rs => rs.map(r => r.getAttribute('data-type'))");
        Assert.Equal(target.Labels.Select(l => l.Type), types);
        Assert.Contains("headminer serve", await page.InnerTextAsync(".hm-head-card .hm-card-prompt"));
        Assert.All(requests, u => Assert.StartsWith("file://", u, StringComparison.Ordinal));
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(RepoPaths.Artifacts, "atlas-html.png") });
        await page.Context.CloseAsync();
    }
}

/// <summary>The second model of the side-by-side test: the GPT-2 parity fixture, with an atlas the runner makes for it once per test run.</summary>
public static class SecondModel
{
    public static string Path => System.IO.Path.Combine(RepoPaths.Root, "tests", "fixtures", "parity", "gpt2");

    private static readonly Lazy<AtlasReport> Computed = new(() =>
    {
        using var loaded = ModelLoader.Load(Path);
        var atlas = AtlasRunner.Run(loaded.Model, loaded.Tokenizer, AtlasModel.Of(loaded), new AtlasOptions().ForModel(loaded));
        atlas.Write(AtlasFilePath);
        return atlas;
    });

    public static AtlasReport Atlas => Computed.Value;

    public static string AtlasPath
    {
        get
        {
            _ = Computed.Value;
            return AtlasFilePath;
        }
    }

    private static string AtlasFilePath => System.IO.Path.Combine(AppContext.BaseDirectory, "atlas-parity-gpt2.json");
}
