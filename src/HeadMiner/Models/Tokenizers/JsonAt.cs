using System.Text.Json;

namespace HeadMiner.Models.Tokenizers;

/// <summary>
/// A JSON value of a tokenizer file together with where it is (file and JSON path, e.g. <c>model.vocab["▁the"]</c>),
/// so that every missing, mistyped or undecodable field becomes one <see cref="HeadMinerException"/> naming the file
/// and the field, instead of whatever System.Text.Json would throw.
/// </summary>
internal readonly record struct JsonAt(JsonElement Element, string Path, string File)
{
    public JsonValueKind Kind => Element.ValueKind;

    /// <summary>The path as a message says it ("the top level" for the root).</summary>
    public string Name => Path.Length == 0 ? "the top level" : Path;

    /// <summary>The member <paramref name="name"/>, or null when absent or JSON null; this value must be an object.</summary>
    public JsonAt? Optional(string name)
    {
        RequireKind(JsonValueKind.Object, "an object");
        return Element.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? new JsonAt(v, Member(name), File) : null;
    }

    public JsonAt Required(string name) => Optional(name) ?? throw Fail($"{Member(name)} is missing");

    public string String()
    {
        RequireKind(JsonValueKind.String, "a string");
        try
        {
            return Element.GetString()!;
        }
        catch (InvalidOperationException)
        {
            throw Fail($"{Name} is not valid text (invalid UTF-8 or a lone surrogate)");
        }
    }

    public int Int()
    {
        RequireKind(JsonValueKind.Number, "an integer");
        return Element.TryGetInt32(out int value) ? value : throw Fail($"{Name} is {Raw()}; expected an integer in 0..{int.MaxValue}");
    }

    /// <summary>The value's JSON text, clipped for a message (the text itself may hold invalid UTF-8, which cannot be shown).</summary>
    public string Raw()
    {
        try
        {
            return Clip(Element.GetRawText());
        }
        catch (InvalidOperationException)
        {
            return "(JSON that is not valid UTF-8)";
        }
    }

    public bool Bool(bool fallback) => Element.ValueKind is JsonValueKind.True or JsonValueKind.False ? Element.GetBoolean() : fallback;

    /// <summary>The optional string member <paramref name="name"/>, or <paramref name="fallback"/> when absent.</summary>
    public string? String(string name, string? fallback) => Optional(name)?.String() ?? fallback;

    /// <summary>The optional boolean member <paramref name="name"/> (any other type counts as absent, as in Hugging Face's defaults).</summary>
    public bool Bool(string name, bool fallback) => Optional(name)?.Bool(fallback) ?? fallback;

    public IEnumerable<JsonAt> Items()
    {
        RequireKind(JsonValueKind.Array, "an array");
        (string path, string file) = (Path, File);
        return Element.EnumerateArray().Select((v, i) => new JsonAt(v, $"{path}[{i}]", file));
    }

    public int Count()
    {
        RequireKind(JsonValueKind.Array, "an array");
        return Element.GetArrayLength();
    }

    public JsonAt this[int index] => index < Count() ? new JsonAt(Element[index], $"{Path}[{index}]", File) : throw Fail($"{Name} has {Count()} items; item {index} is missing");

    /// <summary>The members of an object, each name checked to be valid text.</summary>
    public IEnumerable<(string Name, JsonAt Value)> Members()
    {
        RequireKind(JsonValueKind.Object, "an object");
        int i = 0;
        foreach (var p in Element.EnumerateObject())
        {
            string name;
            try
            {
                name = p.Name;
            }
            catch (InvalidOperationException)
            {
                throw Fail($"{Name}: the name of member {i} is not valid text (invalid UTF-8 or a lone surrogate)");
            }
            i++;
            yield return (name, new JsonAt(p.Value, $"{Path}[\"{Clip(name)}\"]", File));
        }
    }

    public HeadMinerException Fail(string message) => new($"{File}: {message}");

    private void RequireKind(JsonValueKind kind, string what)
    {
        if (Element.ValueKind != kind) throw Fail($"{Name} must be {what}, not {KindName(Element.ValueKind)}");
    }

    private string Member(string name) => Path.Length == 0 ? name : $"{Path}.{name}";

    private static string KindName(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        _ => "null",
    };

    /// <summary>Echoed file content is cut short and kept on one line, so an error stays one readable line.</summary>
    internal static string Clip(string s)
    {
        string oneLine = string.Concat(s.Select(c => char.IsControl(c) ? $"\\u{(int)c:X4}" : c.ToString()));
        return oneLine.Length <= 60 ? oneLine : oneLine[..60] + "…";
    }
}
