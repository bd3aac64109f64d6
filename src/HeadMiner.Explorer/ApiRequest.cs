using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace HeadMiner.Explorer;

/// <summary>
/// A request's JSON body with typed, checked fields: a missing or mistyped field is a 400 that names the field.
/// The body is read with a hard byte cap (413 beyond it), whatever Content-Length claims.
/// </summary>
public sealed class ApiRequest
{
    private readonly JsonElement _root;

    private ApiRequest(JsonElement root) => _root = root;

    public static async Task<ApiRequest> ReadAsync(HttpRequest request, long maxBytes, CancellationToken cancellation)
    {
        if (request.ContentType is not string type || !type.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
            throw new ApiException(415, "the request body must be JSON (Content-Type: application/json)");
        if (request.ContentLength > maxBytes) throw new ApiException(413, $"the request body is {request.ContentLength} bytes; the limit is {maxBytes}");
        using var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, cancellation)) > 0)
        {
            if (buffer.Length + read > maxBytes) throw new ApiException(413, $"the request body is over the limit of {maxBytes} bytes");
            buffer.Write(chunk, 0, read);
        }
        if (buffer.Length == 0) throw ApiException.BadRequest("the request body is empty; expected a JSON object");
        try
        {
            using var doc = JsonDocument.Parse(buffer.ToArray(), new JsonDocumentOptions { MaxDepth = 16 });
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw ApiException.BadRequest($"the request body must be a JSON object, not {Kind(doc.RootElement)}");
            CheckText(doc.RootElement, "");
            return new ApiRequest(doc.RootElement.Clone());
        }
        catch (JsonException e)
        {
            throw ApiException.BadRequest($"malformed JSON: {e.Message}");
        }
    }

    /// <summary>
    /// The parser accepts strings that are not text — invalid UTF-8 bytes, or an escaped lone surrogate such as
    /// "\ud800" — and only reading them fails. Every key and string is read here once, so such a body is a 400
    /// naming the field, not an exception deep in a handler.
    /// </summary>
    private static void CheckText(JsonElement element, string path)
    {
        const string why = "is not valid text (invalid UTF-8, or a lone surrogate such as \\ud800 without its pair)";
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                int index = 0;
                foreach (var property in element.EnumerateObject())
                {
                    string name;
                    try
                    {
                        name = property.Name;
                    }
                    catch (InvalidOperationException)
                    {
                        throw ApiException.BadRequest($"the name of member {index} of {(path.Length == 0 ? "the request" : $"\"{path}\"")} {why}");
                    }
                    CheckText(property.Value, path.Length == 0 ? name : $"{path}.{name}");
                    index++;
                }
                break;
            case JsonValueKind.Array:
                int i = 0;
                foreach (var item in element.EnumerateArray()) CheckText(item, $"{path}[{i++}]");
                break;
            case JsonValueKind.String:
                try
                {
                    _ = element.GetString();
                }
                catch (InvalidOperationException)
                {
                    throw ApiException.BadRequest($"\"{ExplorerApi.Clip(path)}\" {why}");
                }
                break;
        }
    }

    /// <summary>A request built from a JSON object (tests, and query-string requests turned into one).</summary>
    public static ApiRequest FromJson(string json) => new(JsonDocument.Parse(json).RootElement.Clone());

    public bool Has(string name) => _root.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null;

    public string String(string name) => OptionalString(name) ?? throw ApiException.BadRequest($"\"{name}\" is required (a string)");

    public string? OptionalString(string name)
    {
        if (!_root.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        return v.ValueKind == JsonValueKind.String ? v.GetString() : throw ApiException.BadRequest($"\"{name}\" must be a string, not {Kind(v)}");
    }

    /// <summary>An integer in [<paramref name="min"/>, <paramref name="max"/>]; <paramref name="what"/> names the range in the message.</summary>
    public int Int(string name, int min, int max, string what) =>
        OptionalInt(name, min, max, what) ?? throw ApiException.BadRequest($"\"{name}\" is required (an integer, {what})");

    public int? OptionalInt(string name, int min, int max, string what)
    {
        if (!_root.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out int value))
            throw ApiException.BadRequest($"\"{name}\" must be an integer, not {Kind(v)}");
        if (value < min || value > max) throw ApiException.BadRequest($"\"{name}\" is {value}; it must be in {min}..{max} ({what})");
        return value;
    }

    /// <summary>A finite number in [<paramref name="min"/>, <paramref name="max"/>], or null when absent.</summary>
    public double? OptionalDouble(string name, double min, double max, string what)
    {
        if (!_root.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out double value) || !double.IsFinite(value))
            throw ApiException.BadRequest($"\"{name}\" must be a number, not {Kind(v)}");
        if (value < min || value > max) throw ApiException.BadRequest($"\"{name}\" is {value.ToString(System.Globalization.CultureInfo.InvariantCulture)}; it must be in {min.ToString(System.Globalization.CultureInfo.InvariantCulture)}..{max.ToString(System.Globalization.CultureInfo.InvariantCulture)} ({what})");
        return value;
    }

    /// <summary>An array of integers of at most <paramref name="maxCount"/> items, or null when absent.</summary>
    public int[]? OptionalIntArray(string name, int maxCount)
    {
        if (!_root.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.Array) throw ApiException.BadRequest($"\"{name}\" must be an array of integers, not {Kind(v)}");
        int n = v.GetArrayLength();
        if (n > maxCount) throw new ApiException(413, $"\"{name}\" has {n} items; the limit is {maxCount}");
        var result = new int[n];
        int i = 0;
        foreach (var item in v.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt32(out result[i]))
                throw ApiException.BadRequest($"\"{name}\"[{i}] must be an integer, not {Kind(item)}");
            i++;
        }
        return result;
    }

    private static string Kind(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        _ => "null",
    };
}
