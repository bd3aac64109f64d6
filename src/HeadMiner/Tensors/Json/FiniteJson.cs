using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace HeadMiner.Tensors.Json;

/// <summary>One value that JSON cannot hold, written as <c>null</c>: where it is (a JSONPath such as
/// <c>$.senders[3].normalized</c>) and what it was (<c>NaN</c>, <c>Infinity</c> or <c>-Infinity</c>).</summary>
public sealed record NonFiniteValue(string Path, string Value);

/// <summary>A serialised document and the non-finite values that it holds as <c>null</c> (empty when none).</summary>
public sealed record FiniteJsonText(string Json, IReadOnlyList<NonFiniteValue> NonFinite)
{
    /// <summary>One line for a terminal: how many values became null and the first few paths (empty when none).</summary>
    public string Describe(string where)
    {
        if (NonFinite.Count == 0) return "";
        const int shown = 3;
        string first = string.Join(", ", NonFinite.Take(shown).Select(v => $"{v.Path} = {v.Value}"));
        string more = NonFinite.Count > shown ? $", … ({NonFinite.Count - shown} more)" : "";
        return $"note: {where}: {NonFinite.Count} non-finite value(s) written as null ({first}{more}); listed under \"{FiniteJson.NoteProperty}\"";
    }
}

/// <summary>
/// Serialises results so that non-finite numbers are values, not crashes: NaN/±∞ are written as <c>null</c> (by
/// <see cref="NonFiniteAsNullConverter"/>), and a document whose root is an object gains a top-level
/// <c>"non_finite"</c> entry naming each such value's path and what it was, so a reader can tell a null that means
/// "undefined here" from one that means "not measured". Documents without non-finite values are written exactly as
/// the options write them, at the cost of one extra scan of the text.
/// </summary>
public static class FiniteJson
{
    /// <summary>The top-level property that lists the values written as null (docs/METHODS.md, "Non-finite values").</summary>
    public const string NoteProperty = "non_finite";

    /// <summary>At most this many values are listed by path; <c>count</c> gives the total.</summary>
    public const int ListedValues = 100;

    // The marking copy of each options object, made once: options objects are long-lived statics.
    private static readonly ConditionalWeakTable<JsonSerializerOptions, JsonSerializerOptions> MarkingCopies = new();

    /// <summary>Adds <see cref="NonFiniteAsNullConverter"/> to <paramref name="options"/> (before first use) and returns it.</summary>
    public static JsonSerializerOptions Register(JsonSerializerOptions options)
    {
        options.Converters.Add(new NonFiniteAsNullConverter());
        return options;
    }

    public static FiniteJsonText Serialize(object? value, JsonSerializerOptions options)
    {
        // First pass with markers in place of the nulls: a document with no marker is the final text as it is.
        string marked = JsonSerializer.Serialize(value, MarkingCopies.GetValue(options, Marking));
        if (marked.IndexOf(NonFiniteAsNullConverter.MarkerPrefix) < 0 && !marked.Contains("\\uFDD0", StringComparison.OrdinalIgnoreCase))
            return new FiniteJsonText(marked, []);
        var root = JsonNode.Parse(marked);
        var found = new List<NonFiniteValue>();
        root = Replace(root, found);
        if (root is JsonObject obj && found.Count > 0 && !obj.ContainsKey(NoteProperty)) obj[NoteProperty] = Note(found);
        return new FiniteJsonText(root?.ToJsonString(options) ?? "null", found);
    }

    /// <summary>As <see cref="Serialize"/>, as a detached <see cref="JsonElement"/> (for embedding in a larger response).</summary>
    public static JsonElement SerializeToElement(object? value, JsonSerializerOptions options)
    {
        using var document = JsonDocument.Parse(Serialize(value, options).Json);
        return document.RootElement.Clone();
    }

    /// <summary>The <c>"non_finite"</c> entry: what the nulls stand for, how many, and where (first <see cref="ListedValues"/>).</summary>
    public static JsonObject Note(IReadOnlyList<NonFiniteValue> values) => new()
    {
        ["written_as"] = "null",
        ["count"] = values.Count,
        ["values"] = new JsonArray(values.Take(ListedValues).Select(v => (JsonNode)new JsonObject { ["path"] = v.Path, ["value"] = v.Value }).ToArray()),
    };

    private static JsonSerializerOptions Marking(JsonSerializerOptions options)
    {
        var copy = new JsonSerializerOptions(options);
        for (int i = copy.Converters.Count - 1; i >= 0; i--)
            if (copy.Converters[i] is NonFiniteAsNullConverter) copy.Converters.RemoveAt(i);
        copy.Converters.Insert(0, new NonFiniteAsNullConverter(mark: true));
        return copy;
    }

    /// <summary>Replaces every marker under <paramref name="node"/> by null, recording its path; returns the node's replacement.</summary>
    private static JsonNode? Replace(JsonNode? node, List<NonFiniteValue> found)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (var (key, child) in obj.ToArray())
                    if (IsMarker(child, out _)) { found.Add(Value(child!)); obj[key] = null; }
                    else Replace(child, found);
                return obj;
            case JsonArray array:
                for (int i = 0; i < array.Count; i++)
                    if (IsMarker(array[i], out _)) { found.Add(Value(array[i]!)); array[i] = null; }
                    else Replace(array[i], found);
                return array;
            case JsonValue when IsMarker(node, out _):
                found.Add(Value(node));
                return null;
            default:
                return node;
        }
    }

    private static NonFiniteValue Value(JsonNode marker)
    {
        IsMarker(marker, out string text);
        return new NonFiniteValue(marker.GetPath(), text[1..]);
    }

    private static bool IsMarker(JsonNode? node, out string text)
    {
        text = "";
        if (node is not JsonValue v || !v.TryGetValue(out string? s) || s is null) return false;
        text = s;
        return s.Length > 1 && s[0] == NonFiniteAsNullConverter.MarkerPrefix && s[1..] is "NaN" or "Infinity" or "-Infinity";
    }
}
