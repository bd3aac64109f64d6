using System.Net;
using System.Text;
using System.Text.Json;

namespace HeadMiner.Explorer.Tests;

/// <summary>
/// Request bodies that parse as JSON but are not text (an escaped lone surrogate, raw invalid UTF-8) and methods and
/// paths outside the API: each gets an answer that says what is wrong, never a 500 or an empty body.
/// </summary>
[Collection(ExplorerCollection.Name)]
public sealed class RequestDecodingTests(ExplorerFixture fx)
{
    private async Task<(int Status, string Body)> PostBytesAsync(string path, byte[] body)
    {
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        using var response = await fx.Http.PostAsync(path, content);
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("{\"model\":\"embedded\",\"prompt\":\"\\ud800\",\"layer\":0}", "\"prompt\"")]
    [InlineData("{\"model\":\"embedded\",\"prompt\":\"w3 \\udfff w17\",\"layer\":0}", "\"prompt\"")]
    [InlineData("{\"model\":\"embedded\",\"prompt\":\"w3\",\"layer\":0,\"\\ud800\":1}", "member 3")]
    [InlineData("{\"model\":\"\\ud800\",\"prompt\":\"w3\",\"layer\":0}", "\"model\"")]
    public async Task A_lone_surrogate_escape_is_a_400_naming_the_field(string body, string named)
    {
        var (status, text) = await PostBytesAsync("/api/pattern", Encoding.UTF8.GetBytes(body));
        Assert.Equal(400, status);
        string error = JsonDocument.Parse(text).RootElement.GetProperty("error").GetString()!;
        Assert.Contains("not valid text", error);
        Assert.Contains(named, error);
    }

    [Fact]
    public async Task Invalid_utf8_in_a_string_is_a_400_with_a_json_error()
    {
        byte[] body = [.. "{\"model\":\"embedded\",\"prompt\":\"w3 "u8.ToArray(), 0xC3, 0x28, 0xFF, .. "\",\"layer\":0}"u8.ToArray()];
        var (status, text) = await PostBytesAsync("/api/pattern", body);
        Assert.Equal(400, status);
        var json = JsonDocument.Parse(text).RootElement;
        Assert.Equal(400, json.GetProperty("status").GetInt32());
        Assert.Contains("UTF-8", json.GetProperty("error").GetString()!);
    }

    [Fact]
    public async Task Head_of_the_page_answers_like_get_without_a_body()
    {
        using var get = await fx.Http.GetAsync("/");
        using var head = await fx.Http.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/"));
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        Assert.Equal(get.Content.Headers.ContentType?.MediaType, head.Content.Headers.ContentType?.MediaType);
        Assert.Equal("text/html", head.Content.Headers.ContentType?.MediaType);
        Assert.Equal("nosniff", head.Headers.GetValues("X-Content-Type-Options").Single());
        Assert.Empty(await head.Content.ReadAsByteArrayAsync());
        using var asset = await fx.Http.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/assets/views.js"));
        Assert.Equal(HttpStatusCode.OK, asset.StatusCode);
    }

    [Theory]
    [InlineData("GET", "/favicon.ico", 404, "/favicon.ico")]
    [InlineData("GET", "/assets/nothing.js", 404, "/assets/nothing.js")]
    [InlineData("GET", "/robots.txt", 404, "/robots.txt")]
    [InlineData("GET", "/api/pattern", 405, "POST")]
    [InlineData("POST", "/", 405, "GET")]
    [InlineData("DELETE", "/api/models", 405, "GET")]
    [InlineData("PUT", "/api/nothing", 404, "/api/nothing")]
    public async Task Every_error_answer_has_a_json_body_saying_what_was_not_found(string method, string path, int status, string named)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (method is "POST" or "PUT") request.Content = new StringContent("{}", Encoding.UTF8, "application/json");
        using var response = await fx.Http.SendAsync(request);
        Assert.Equal(status, (int)response.StatusCode);
        var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(status, json.GetProperty("status").GetInt32());
        Assert.Contains(named, json.GetProperty("error").GetString()!);
    }
}
