using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using HeadMiner.Tests.Robustness;

namespace HeadMiner.Explorer.Tests;

/// <summary>
/// Malformed requests to every endpoint of a running explorer (issue 12): bad JSON, wrong types, unknown model ids,
/// layers/heads/positions out of range, huge numbers, over-long prompts, lone surrogate escapes, invalid UTF-8 and
/// random bytes, wrong content types. Each answer is a 200 or a 4xx whose body is a JSON error naming the problem —
/// never a 5xx, never a hang — and the server keeps serving.
/// </summary>
[Collection(ExplorerCollection.Name)]
public sealed class RequestFuzzTests(ExplorerFixture fx)
{
    /// <summary>Far above any case's real cost (milliseconds); only a hang reaches it.</summary>
    private static readonly TimeSpan HangLimit = TimeSpan.FromSeconds(60);

    private static readonly string[] Posts = ["/api/tokenize", "/api/pattern", "/api/logit-lens", "/api/dla", "/api/intervene", "/api/flow"];

    private const string HugeNumber = JsonMutation.HugeNumber;

    private static readonly (string Field, JsonNode? Value)[] Hostile =
    [
        ("model", "nope"), ("model", ""), ("model", "EMBEDDED"), ("model", "../embedded"), ("model", 5),
        ("layer", -1), ("layer", TestModel.Layers), ("layer", 2147483648L), ("layer", 0.5), ("layer", "0"), ("layer", HugeNumber),
        ("head", -1), ("head", TestModel.Heads), ("head", int.MinValue), ("head", HugeNumber),
        ("prompt", new string('a', 17_000)), ("prompt", TestModel.Words(300)), ("prompt", JsonMutation.LoneSurrogate),
        ("prompt", "w3\u0000w17"), ("prompt", ""), ("prompt", "zzz"), ("prompt", new JsonArray("w3")),
        ("tokens", new JsonArray(-1)), ("tokens", new JsonArray(955)), ("tokens", new JsonArray(1e10)), ("tokens", new JsonArray()),
        ("tokens", new JsonArray([.. Enumerable.Range(0, 300).Select(i => (JsonNode?)JsonValue.Create(i % 300))])), ("tokens", "1 2 3"),
        ("top", 0), ("top", 51), ("top", HugeNumber), ("answer", -5), ("answer", 955), ("kind", "patch"), ("kind", "explode"),
        ("source_prompt", "w3"), ("source_prompt", JsonMutation.LoneSurrogate), ("model", JsonMutation.LoneSurrogate), ("source_tokens", new JsonArray(1, 2, 3)),
        ("threshold", -0.1), ("threshold", 1.5), ("threshold", "0.1"), ("threshold", HugeNumber), ("threshold", 0),
    ];

    private static JsonObject ValidBody() => new()
    {
        ["model"] = ExplorerFixture.WithAtlas,
        ["prompt"] = TestModel.Prompt,
        ["layer"] = 1,
        ["head"] = 2,
        ["kind"] = "ablate",
        ["source_prompt"] = TestModel.SourcePrompt,
        ["top"] = 3,
    };

    private static readonly string?[] ContentTypes = ["application/json", "application/json", "application/json; charset=utf-8", "text/plain", null];

    private sealed record Case(int Endpoint, int[] HostileEdits, JsonMutation? Structure, int ContentType, int Get)
    {
        public override string ToString() =>
            $"{(Get > 0 ? $"GET #{Get}" : Posts[Endpoint % Posts.Length])}, hostile [{string.Join(", ", HostileEdits.Select(i => Hostile[i].Field + "=" + Clip(Hostile[i].Value?.ToJsonString())))}], {Structure?.ToString() ?? "structure intact"}, content type {ContentTypes[ContentType] ?? "none"}";

        private static string Clip(string? s) => s is null ? "null" : s.Length <= 30 ? s : s[..30] + "…";
    }

    private static readonly string[] Gets =
    [
        "/api/models", "/api/atlas?model=nope", "/api/atlas?model=%FF%FE", "/api/atlas/progress?model=" + ExplorerFixture.WithAtlas,
        "/api/atlas/progress", "/api/atlas?model=" + ExplorerFixture.WithAtlas, "/api/atlas/progress?model=%00", "/favicon.ico", "/api/pattern",
    ];

    [Property(MaxTest = FuzzSettings.Cases, Replay = FuzzSettings.Seed)]
    public Property Every_malformed_request_gets_a_4xx_with_a_json_error_and_never_a_5xx()
    {
        var cases = from endpoint in Gen.Choose(0, Posts.Length - 1)
                    from hostile in Gen.Choose(0, Hostile.Length - 1).ListOf().Select(l => l.Take(3).ToArray())
                    from structure in Gen.Frequency((2, Gen.Constant<JsonMutation?>(null)), (1, JsonMutation.Generator.Select(m => (JsonMutation?)m)))
                    from contentType in Gen.Choose(0, ContentTypes.Length - 1)
                    from get in Gen.Frequency((6, Gen.Constant(0)), (1, Gen.Choose(1, Gets.Length)))
                    select new Case(endpoint, hostile, structure, contentType, get);
        return Prop.ForAll(cases.ToArbitrary(), c => Bounded(() => RunCase(c), c));
    }

    private static void Bounded(Func<Task> run, Case c)
    {
        var task = Task.Run(run);
        if (!task.Wait(HangLimit)) throw new Xunit.Sdk.XunitException($"no answer within {HangLimit.TotalSeconds} s: a hang\ncase: {c}");
        task.GetAwaiter().GetResult();
    }

    private async Task RunCase(Case c)
    {
        using var request = c.Get > 0 ? new HttpRequestMessage(HttpMethod.Get, Gets[c.Get - 1]) : new HttpRequestMessage(HttpMethod.Post, Posts[c.Endpoint]) { Content = Body(c) };
        using var response = await fx.Http.SendAsync(request);
        int status = (int)response.StatusCode;
        string text = await response.Content.ReadAsStringAsync();
        string context = $"\ncase: {c}\nstatus: {status}\nbody: {(text.Length > 300 ? text[..300] + "…" : text)}";
        if (status >= 500) throw new Xunit.Sdk.XunitException($"a {status}: the server failed instead of refusing the input{context}");
        if (status is not (200 or (>= 400 and < 500))) throw new Xunit.Sdk.XunitException($"unexpected status{context}");
        JsonElement body;
        try
        {
            body = JsonDocument.Parse(text).RootElement;
        }
        catch (JsonException)
        {
            throw new Xunit.Sdk.XunitException($"the answer is not JSON{context}");
        }
        if (status >= 400)
        {
            if (body.ValueKind != JsonValueKind.Object || !body.TryGetProperty("error", out var error) || error.ValueKind != JsonValueKind.String || error.GetString()!.Length < 5)
                throw new Xunit.Sdk.XunitException($"the error body has no \"error\" message{context}");
            if (!body.TryGetProperty("status", out var s) || s.GetInt32() != status) throw new Xunit.Sdk.XunitException($"the error body's \"status\" differs{context}");
        }
        using var models = await fx.Http.GetAsync("/api/models");
        if ((int)models.StatusCode != 200) throw new Xunit.Sdk.XunitException($"the server stopped serving after this request{context}");
    }

    private static ByteArrayContent Body(Case c)
    {
        var body = ValidBody();
        foreach (int i in c.HostileEdits) body[Hostile[i].Field] = Hostile[i].Value?.DeepClone();
        byte[] bytes = c.Structure?.Apply(body) ?? JsonMutation.Serialize(body);
        var content = new ByteArrayContent(bytes);
        if (ContentTypes[c.ContentType] is { } type) content.Headers.ContentType = MediaTypeHeaderValue.Parse(type);
        return content;
    }
}
