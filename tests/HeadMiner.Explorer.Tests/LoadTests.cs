using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using Xunit.Abstractions;

namespace HeadMiner.Explorer.Tests;

/// <summary>
/// 200 concurrent pattern requests on loopback all succeed with the same answer (no errors, no cross-talk between
/// concurrent runs). Latencies are printed (p50/p95/max), not asserted: docs/PERFORMANCE.md reports them.
/// </summary>
[Collection(ExplorerCollection.Name)]
public sealed class LoadTests(ExplorerFixture fx, ITestOutputHelper output)
{
    [Fact]
    public async Task Two_hundred_concurrent_pattern_requests_all_succeed_with_identical_answers()
    {
        const int requests = 200;
        var (_, reference) = await fx.PostAsync("/api/pattern", new { model = ExplorerFixture.WithAtlas, prompt = TestModel.Prompt, layer = 2 });
        string expected = reference.GetProperty("patterns").GetRawText();
        var wall = Stopwatch.StartNew();
        var tasks = Enumerable.Range(0, requests).Select(async i =>
        {
            await Task.Yield();
            var sw = Stopwatch.StartNew();
            using var response = await fx.Http.PostAsJsonAsync("/api/pattern", new { model = ExplorerFixture.WithAtlas, prompt = TestModel.Prompt, layer = 2 });
            var body = await response.Content.ReadFromJsonAsync<JsonElement>();
            return ((int)response.StatusCode, body, sw.Elapsed.TotalMilliseconds);
        }).ToArray();
        var results = await Task.WhenAll(tasks);
        double total = wall.Elapsed.TotalMilliseconds;
        Assert.All(results, r => Assert.Equal(200, r.Item1));
        Assert.All(results, r => Assert.Equal(expected, r.body.GetProperty("patterns").GetRawText()));
        var ms = results.Select(r => r.Item3).Order().ToArray();
        output.WriteLine($"{requests} concurrent /api/pattern requests ({reference.GetProperty("tokens").GetArrayLength()} tokens, embedded model, layer 2, all heads): " +
            $"p50 {ms[requests / 2]:F1} ms, p95 {ms[(int)(requests * 0.95) - 1]:F1} ms, max {ms[^1]:F1} ms, wall {total:F0} ms, {Environment.ProcessorCount} cores");
    }
}
