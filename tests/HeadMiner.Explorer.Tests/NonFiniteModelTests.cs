using System.Net.Http.Json;
using System.Text.Json;
using HeadMiner.Tests.Models;

namespace HeadMiner.Explorer.Tests;

/// <summary>
/// A model with one NaN weight (layer 1's W_Q): the explorer answers 422 with a JSON error naming the first hook point
/// with NaN — never 500 — for what the NaN reaches, answers normally for what it does not, and keeps serving.
/// </summary>
public sealed class NonFiniteModelTests
{
    [Fact]
    public async Task A_NaN_model_gets_422_naming_the_hook_point_and_the_server_keeps_serving()
    {
        string dir = Path.Combine(Path.GetTempPath(), "headminer-explorer-nan-" + Guid.NewGuid().ToString("N"));
        try
        {
            string model = PoisonedModel.Copy(TestModel.Path, dir, "transformer.h.1.attn.c_attn.weight", 0);
            await using var server = await ExplorerServer.StartAsync(new ExplorerOptions { Models = [new ExplorerModelSpec(model, AtlasPath: null)], Port = 0, AtlasOnDemand = new RunnerAtlasProvider() });
            using var http = new HttpClient { BaseAddress = new Uri(server.Url), Timeout = TimeSpan.FromSeconds(60) };
            string id = server.Models[0].Id;

            async Task<(int Status, JsonElement Body)> Post(string path, object body)
            {
                using var response = await http.PostAsJsonAsync(path, body);
                return ((int)response.StatusCode, await response.Content.ReadFromJsonAsync<JsonElement>());
            }

            foreach (var (path, body) in new (string, object)[]
            {
                ("/api/pattern", new { model = id, prompt = TestModel.Prompt, layer = 2 }),
                ("/api/logit-lens", new { model = id, prompt = TestModel.Prompt }),
                ("/api/dla", new { model = id, prompt = TestModel.Prompt }),
                ("/api/intervene", new { model = id, prompt = TestModel.Prompt, layer = 0, head = 0, kind = "ablate" }),
            })
            {
                var (status, answer) = await Post(path, body);
                Assert.True(status == 422, $"{path}: {status} {answer}");
                Assert.Equal(422, answer.GetProperty("status").GetInt32());
                Assert.Contains("first at blocks.1.attn.hook_q", answer.GetProperty("error").GetString());
            }

            // Layer 0's pattern comes before the NaN: it is answered as usual.
            var (ok, pattern) = await Post("/api/pattern", new { model = id, prompt = TestModel.Prompt, layer = 0 });
            Assert.Equal(200, ok);
            Assert.Equal(TestModel.Heads, pattern.GetProperty("patterns").GetArrayLength());

            // The atlas on demand stops at once with the same diagnosis.
            using var atlas = await http.GetAsync($"/api/atlas?model={id}");
            Assert.Equal(422, (int)atlas.StatusCode);
            Assert.Contains("blocks.1.attn.hook_q", (await atlas.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetString());

            using var models = await http.GetAsync("/api/models");
            Assert.Equal(200, (int)models.StatusCode);
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); }
            catch (IOException) { }
        }
    }
}
