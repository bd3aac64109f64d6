using System.Text.Json;
using HeadMiner.Models.Formats;
using HeadMiner.Tensors;

namespace HeadMiner.Models;

/// <summary>
/// Typed, range-checked access to a Hugging Face config.json. Every read names the key and the file when the value is
/// absent, of the wrong JSON type or out of range (<c>config.json: "rms_norm_eps" is -1e-05; it must be a positive
/// finite number</c>), so a bad config ends in one <see cref="HeadMinerException"/> before any size reaches an
/// allocation or the forward pass. A JSON null counts as absent, as in Hugging Face (<c>"n_inner": null</c>).
/// </summary>
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
        // FileLinks follows symbolic links (the Hugging Face cache stores config.json as one) and names a dangling one.
        var info = FileLinks.Resolve(path, "config.json");
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
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new HeadMinerException($"{path}: cannot read config.json: {e.Message}", e);
        }
    }

    public static HfConfig Parse(string json, string path = "config.json")
    {
        using var doc = JsonDocument.Parse(json);
        if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new HeadMinerException($"{path}: config.json is not a JSON object");
        return new HfConfig(path, doc.RootElement.Clone());
    }

    public bool Has(string key) => _root.TryGetProperty(key, out var v) && v.ValueKind != JsonValueKind.Null;

    public string? ModelType => Has("model_type") ? String("model_type") : null;

    public JsonElement? Element(string key) => Has(key) ? _root.GetProperty(key) : null;

    /// <summary>The first of <paramref name="keys"/> that is present, as an int in [<paramref name="min"/>, <paramref name="max"/>]; error naming all keys if none is.</summary>
    public int Int(int min, int max, params string[] keys)
    {
        foreach (var key in keys)
            if (Has(key)) return ReadInt(key, _root.GetProperty(key), min, max);
        throw Missing(keys);
    }

    /// <summary>The first present key as an int in [<paramref name="min"/>, <paramref name="max"/>], or <paramref name="fallback"/> when none is.</summary>
    public int IntOr(int fallback, int min, int max, params string[] keys)
    {
        foreach (var key in keys)
            if (Has(key)) return ReadInt(key, _root.GetProperty(key), min, max);
        return fallback;
    }

    /// <summary>A token id (bos/eos) in [0, <paramref name="vocabSize"/>); a list (some configs give several eos ids) yields its first entry.</summary>
    public int? TokenIdOrNull(string key, int vocabSize)
    {
        if (!Has(key)) return null;
        var v = _root.GetProperty(key);
        if (v.ValueKind == JsonValueKind.Array)
        {
            if (v.GetArrayLength() == 0) throw Bad(key, v, "a token id or a non-empty list of them");
            v = v[0];
        }
        return ReadInt(key, v, 0, vocabSize - 1);
    }

    /// <summary>The first present key as a finite number in the range <paramref name="range"/> describes, or <paramref name="fallback"/>.</summary>
    public double DoubleOr(double fallback, NumberRange range, params string[] keys)
    {
        foreach (var key in keys)
            if (Has(key)) return ReadDouble(key, _root.GetProperty(key), range);
        return fallback;
    }

    /// <summary>A normalisation epsilon: positive and finite also once narrowed to float32 (the forward pass's precision).</summary>
    public float EpsilonOr(double fallback, string key)
    {
        double eps = DoubleOr(fallback, NumberRange.Positive, key);
        float narrowed = (float)eps;
        if (!(narrowed > 0 && float.IsFinite(narrowed))) throw Bad(key, _root.GetProperty(key), "a positive number representable as float32");
        return narrowed;
    }

    public bool BoolOr(bool fallback, string key)
    {
        if (!Has(key)) return fallback;
        var v = _root.GetProperty(key);
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Bad(key, v, "true or false"),
        };
    }

    public string String(string key)
    {
        if (!Has(key)) throw Missing([key]);
        var v = _root.GetProperty(key);
        if (v.ValueKind != JsonValueKind.String) throw Bad(key, v, "a string");
        return v.GetString()!;
    }

    public string StringOr(string fallback, string key) => Has(key) ? String(key) : fallback;

    /// <summary>The error for <paramref name="key"/> holding <paramref name="value"/> when it must be <paramref name="what"/>.</summary>
    public HeadMinerException Bad(string key, JsonElement value, string what) =>
        new($"{Path}: \"{ErrorText.Clip(key)}\" is {Show(value)}; it must be {what}");

    private HeadMinerException Missing(string[] keys) =>
        new($"{Path}: config.json lacks {string.Join(" / ", keys.Select(k => $"\"{k}\""))}");

    /// <summary>
    /// An integer in range. A number written with a zero fraction (768.0) counts: configs saved from Python
    /// sometimes carry sizes as floats, and Hugging Face accepts them.
    /// </summary>
    public int ReadInt(string key, JsonElement v, int min, int max)
    {
        string what = max == int.MaxValue ? (min == 1 ? "a positive integer" : $"an integer ≥ {min}") : $"an integer in {min}..{max}";
        if (v.ValueKind != JsonValueKind.Number) throw Bad(key, v, what);
        double value = v.TryGetInt64(out long n) ? n : v.TryGetDouble(out double d) ? d : double.NaN;
        if (value >= min && value <= max && value == Math.Floor(value)) return (int)value;
        throw Bad(key, v, what);
    }

    /// <summary>A finite number in range.</summary>
    public double ReadDouble(string key, JsonElement v, NumberRange range)
    {
        // GetDouble accepts only numbers; huge literals (1e999) parse to infinity and fail IsFinite below.
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out double d) || !double.IsFinite(d) || !range.Contains(d))
            throw Bad(key, v, range.Description);
        return d;
    }

    private static string Show(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.Null => "null",
        JsonValueKind.String => ErrorText.Clip(v.GetRawText(), 60),
        _ => ErrorText.Clip(v.GetRawText(), 60),
    };
}
