using System.Text.Json;
using Microsoft.Playwright;

namespace HeadMiner.Explorer.Tests;

/// <summary>
/// The explorer's circuit view: /api/circuit finds the same circuit for a task as the atlas's circuits section (same
/// pairs, same method), and the page draws it — every node the circuit uses filled, one line per edge, each head's
/// roles from the saved atlas — for a task and for the prompt against the source prompt. Screenshot: explorer-circuit.png.
/// </summary>
[Collection(ExplorerCollection.Name)]
public sealed class CircuitViewTests(ExplorerFixture fx)
{
    [Fact]
    public async Task The_circuit_of_a_task_is_the_atlas_circuit_and_the_page_draws_it_with_the_heads_roles()
    {
        var atlasTask = TestModel.Atlas.Circuits!.Tasks.First(t => t.Status == "ran" && t.Task == "successor");
        var (status, api) = await fx.PostAsync("/api/circuit", new { model = ExplorerFixture.WithAtlas, task = "successor" });
        Assert.True(status == 200, api.ToString());
        var nodes = api.GetProperty("nodes").EnumerateArray().ToList();
        var edges = api.GetProperty("edges").EnumerateArray().Select(e => (e.GetProperty("sender").GetString()!, e.GetProperty("receiver").GetString()!)).ToList();
        // The same graph as the atlas's: same pairs, same method, same edges.
        Assert.Equal(atlasTask.Nodes.Select(n => n.Name), nodes.Select(n => n.GetProperty("name").GetString()));
        Assert.Equal(atlasTask.Edges.Select(e => (e.Sender, e.Receiver)), edges);
        Assert.Equal(atlasTask.Faithfulness!.Value, api.GetProperty("faithfulness").GetDouble(), 5e-7);
        foreach (var (n, a) in nodes.Zip(atlasTask.Nodes))
            Assert.Equal(a.Roles, n.GetProperty("roles").EnumerateArray().Select(r => r.GetString()));

        var page = await BrowserPages.OpenExplorerAsync(fx, fx.Server.Url);
        using var models = JsonDocument.Parse(await fx.Http.GetStringAsync("/api/models"));
        var tasks = models.RootElement.GetProperty("models")[0].GetProperty("examples").EnumerateArray().Select(e => e.GetProperty("task").GetString()).ToList();
        int example = tasks.IndexOf("successor");
        Assert.True(example >= 0, string.Join(", ", tasks));
        await page.SelectOptionAsync("#examples", example.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal("successor", await page.InputValueAsync("#circuit-task"));
        await page.ClickAsync("#circuit-run");
        await page.WaitForSelectorAsync("body[data-circuits=\"1\"]");
        Assert.Equal("successor", await page.GetAttributeAsync("#circuit", "data-task"));
        Assert.Equal(edges.Count, await page.Locator("#circuit svg line").CountAsync());
        var filled = await page.Locator("#circuit svg g.hm-circuit-node").EvaluateAllAsync<string[][]>(
            "gs => gs.map(g => [g.getAttribute('data-node'), g.querySelector('circle').getAttribute('fill'), g.querySelector('title').textContent])");
        var used = atlasTask.Nodes.Select(n => n.Name).Concat(["embed", "logits"]).Order().ToList();
        Assert.Equal(used, filled.Where(f => f[1] == "#fdb863").Select(f => f[0]).Order());
        foreach (var n in atlasTask.Nodes)
            Assert.Equal(n.Roles.Count > 0 ? $"{n.Name}: {string.Join(", ", n.Roles)}" : n.Name, filled.Single(f => f[0] == n.Name)[2]);
        var rows = await page.Locator("#circuit .hm-table tbody tr").EvaluateAllAsync<string[][]>("rs => rs.map(r => Array.from(r.cells).map(c => c.textContent))");
        Assert.Equal(atlasTask.Nodes.Select(n => new[] { n.Head >= 0 ? $"L{n.Layer}H{n.Head}" : $"MLP {n.Layer}", n.Roles.Count > 0 ? string.Join(", ", n.Roles) : "—" }), rows);
        Assert.Contains($"{atlasTask.EdgesKept} of {atlasTask.GraphEdges} edges", await page.InnerTextAsync("#circuit .circuit-summary"));
        await BrowserPages.ShotAsync(page, "explorer-circuit");

        // The prompt against the source prompt: one pair, KL from the prompt's next-token distribution.
        await page.FillAsync("#prompt", TestModel.Prompt);
        await page.FillAsync("#source-prompt", TestModel.SourcePrompt);
        await page.ClickAsync("#circuit-prompt");
        await page.WaitForSelectorAsync("body[data-circuits=\"2\"]");
        var (_, pair) = await fx.PostAsync("/api/circuit", new { model = ExplorerFixture.WithAtlas, prompt = TestModel.Prompt, source_prompt = TestModel.SourcePrompt });
        Assert.Equal("kl_divergence", pair.GetProperty("settings").GetProperty("metric").GetString());
        Assert.Equal(pair.GetProperty("edges_kept").GetInt32(), await page.Locator("#circuit svg line").CountAsync());
        Assert.StartsWith("prompt vs source prompt: ", await page.InnerTextAsync("#circuit .circuit-summary"));
        await page.Context.CloseAsync();
    }

    [Theory]
    [InlineData("{\"model\": \"embedded\", \"task\": \"no_such_task\"}", "\"task\" is \"no_such_task\"; known task sets: ioi")]
    [InlineData("{\"model\": \"embedded\", \"prompt\": \"w1 w2 w3\", \"source_prompt\": \"w1 w2\"}", "a circuit compares prompts of equal length: \"source_prompt\" has")]
    [InlineData("{\"model\": \"embedded\", \"prompt\": \"w1 w2 w3\", \"source_prompt\": \"w1 w2 w3\"}", "the clean and corrupted prompts give the same kl_divergence")]
    public async Task A_circuit_request_the_model_cannot_answer_is_a_400_saying_why(string body, string message)
    {
        var (status, error) = await fx.PostRawAsync("/api/circuit", body);
        Assert.Equal(400, status);
        Assert.Contains(message, error.GetProperty("error").GetString());
    }
}
