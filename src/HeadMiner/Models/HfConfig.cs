using System.Text.Json;

namespace HeadMiner.Models;

/// <summary>Typed, error-reporting access to a Hugging Face config.json.</summary>
public sealed class HfConfig
{
    private readonly JsonElement _root;

    public string Path { get; }

    private HfConfig(string path, JsonElement root)
    {
        Path = path;
        _root = root;
    }

    public static HfConfig Load(string path)
    {
        if (!File.Exists(path)) throw new HeadMinerException($"{path}: config.json not found");
        var info = new FileInfo(path);
        if (info.Length > 16 << 20) throw new HeadMinerException($"{path}: {info.Length} bytes is too large for a config.json");
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path), new JsonDocumentOptions { MaxDepth = 64 });
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new HeadMinerException($"{path}: config.json is not a JSON object");
            return new HfConfig(path, doc.RootElement.Clone());
        }
        catch (JsonException e)
        {
            throw new HeadMinerException($"{path}: config.json is not valid JSON ({e.Message})");
        }
    }

    public static HfConfig Parse(string json, string path = "config.json")
    {
        using var doc = JsonDocument.Parse(json);
        return new HfConfig(path, doc.RootElement.Clone());
    }

    public bool Has(string key) => _root.TryGetProperty(key, out var v) && v.ValueKind != JsonValueKind.Null;

    public string? ModelType => Has("model_type") ? String("model_type") : null;

    public JsonElement? Element(string key) => Has(key) ? _root.GetProperty(key) : null;

    /// <summary>The first of <paramref name="keys"/> that is present, as an int; error naming all keys if none is.</summary>
    public int Int(params string[] keys)
    {
        foreach (var key in keys)
            if (Has(key)) return ReadInt(key, _root.GetProperty(key));
        throw new HeadMinerException($"{Path}: config.json lacks {string.Join(" / ", keys.Select(k => $"\"{k}\""))}");
    }

    public int IntOr(int fallback, params string[] keys)
    {
        foreach (var key in keys)
            if (Has(key)) return ReadInt(key, _root.GetProperty(key));
        return fallback;
    }

    public int? IntOrNull(string key) => Has(key) ? ReadInt(key, _root.GetProperty(key)) : null;

    public double DoubleOr(double fallback, params string[] keys)
    {
        foreach (var key in keys)
        {
            if (!Has(key)) continue;
            var v = _root.GetProperty(key);
            if (v.ValueKind != JsonValueKind.Number) throw new HeadMinerException($"{Path}: \"{key}\" must be a number");
            return v.GetDouble();
        }
        return fallback;
    }

    public bool BoolOr(bool fallback, string key)
    {
        if (!Has(key)) return fallback;
        var v = _root.GetProperty(key);
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new HeadMinerException($"{Path}: \"{key}\" must be true or false"),
        };
    }

    public string String(string key)
    {
        if (!Has(key)) throw new HeadMinerException($"{Path}: config.json lacks \"{key}\"");
        var v = _root.GetProperty(key);
        if (v.ValueKind != JsonValueKind.String) throw new HeadMinerException($"{Path}: \"{key}\" must be a string");
        return v.GetString()!;
    }

    public string StringOr(string fallback, string key) => Has(key) ? String(key) : fallback;

    private int ReadInt(string key, JsonElement v)
    {
        if (v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int n)) return n;
        // eos_token_id may be a list in some configs: take the first.
        if (v.ValueKind == JsonValueKind.Array && v.GetArrayLength() > 0 && v[0].TryGetInt32(out int first)) return first;
        throw new HeadMinerException($"{Path}: \"{key}\" must be an integer, got {v.GetRawText()}");
    }
}
