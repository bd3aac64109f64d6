using System.Text;
using System.Text.Json.Nodes;
using FsCheck;
using FsCheck.Fluent;

namespace HeadMiner.Tests.Robustness;

/// <summary>
/// Malformed variants of a valid JSON file: a few structural edits (a key removed, a value replaced by one of the
/// wrong type or an extreme value, a string replaced by hostile text, an array emptied, a value duplicated under
/// another key), then optionally damage to the bytes (<see cref="ByteDamage"/>). Generated as a plain
/// recipe of integers so FsCheck's seed fixes every case; <see cref="Apply"/> turns the recipe into file bytes.
/// </summary>
internal sealed record JsonMutation(IReadOnlyList<(int Kind, int Target, int Value)> Edits, ByteDamage Damage)
{
    private const int EditKinds = 5;

    public static Gen<JsonMutation> Generator { get; } =
        from edits in Gen.Choose(0, EditKinds - 1).SelectMany(k => Gen.Choose(0, 1 << 20), (k, t) => (k, t))
            .SelectMany(kt => Gen.Choose(0, 1 << 20), (kt, v) => (kt.k, kt.t, v)).ListOf().Select(l => l.Take(3).ToArray())
        from damage in ByteDamage.Generator
        select new JsonMutation(edits, damage);

    /// <summary>Values that are wrong somewhere: other types, extreme numbers, hostile strings, nesting.</summary>
    private static JsonNode? OddValue(int pick) => (pick % 22) switch
    {
        0 => null,
        1 => JsonValue.Create(true),
        2 => JsonValue.Create(0),
        3 => JsonValue.Create(-1),
        4 => JsonValue.Create(1.5),
        5 => JsonValue.Create(int.MaxValue),
        6 => JsonValue.Create(int.MinValue),
        7 => JsonValue.Create(4294967296L),
        8 => JsonValue.Create(1e300),
        9 => JsonValue.Create(""),
        10 => JsonValue.Create("x"),
        11 => JsonValue.Create(LoneSurrogate),
        12 => JsonValue.Create("a\u0000b\u001b[31m\r\nc"),
        13 => new JsonArray(),
        14 => new JsonObject(),
        15 => new JsonArray(1, "a", null, new JsonObject()),
        16 => new JsonObject { ["type"] = 5, ["id"] = "x" },
        17 => JsonValue.Create(new string('w', 5000)),
        18 => JsonValue.Create(HugeNumber),
        19 => JsonValue.Create(2147483648L),
        20 => Nested(80),
        _ => JsonValue.Create(-2147483649L),
    };

    private static JsonNode Nested(int depth)
    {
        JsonNode node = new JsonArray();
        for (int i = 0; i < depth; i++) node = new JsonArray(node);
        return node;
    }

    /// <summary>
    /// A string value that <see cref="Serialize"/> writes as the escape <c>"\ud800 x"</c>: a lone surrogate, which
    /// System.Text.Json's writer would otherwise replace by U+FFFD (so no damaged file would contain one).
    /// </summary>
    public const string LoneSurrogate = "@@lone-surrogate@@";

    /// <summary>A string value that <see cref="Serialize"/> writes as the number 1 followed by 400 zeros (no double holds it).</summary>
    public const string HugeNumber = "@@huge-number@@";

    /// <summary>The mutated file's bytes; <paramref name="valid"/> is not changed.</summary>
    public byte[] Apply(JsonNode valid)
    {
        var root = valid.DeepClone();
        foreach (var (kind, target, value) in Edits) Edit(root, kind, target, value);
        return Damage.Apply(Serialize(root));
    }

    /// <summary>The JSON text of <paramref name="node"/>, with <see cref="LoneSurrogate"/> and <see cref="HugeNumber"/> spliced in raw.</summary>
    public static byte[] Serialize(JsonNode node)
    {
        string json = node.ToJsonString()
            .Replace($"\"{LoneSurrogate}\"", "\"\\ud800 x\"", StringComparison.Ordinal)
            .Replace($"\"{HugeNumber}\"", "1" + new string('0', 400), StringComparison.Ordinal);
        return Encoding.UTF8.GetBytes(json);
    }

    private static void Edit(JsonNode root, int kind, int target, int value)
    {
        var slots = new List<(JsonNode Parent, string? Key, int Index)>();
        Collect(root, slots);
        if (slots.Count == 0) return;
        var (parent, key, index) = slots[target % slots.Count];
        switch (kind)
        {
            case 0: // remove
                if (parent is JsonObject o) o.Remove(key!);
                else ((JsonArray)parent).RemoveAt(index);
                break;
            case 1: // replace by an odd value
            case 2:
                Set(parent, key, index, OddValue(value));
                break;
            case 3: // empty the container holding it
                if (parent is JsonObject po) po.Clear();
                else ((JsonArray)parent).Clear();
                break;
            default: // copy another slot's value here (duplicate ids, names, types)
                var (otherParent, otherKey, otherIndex) = slots[value % slots.Count];
                var copy = (otherParent is JsonObject oo ? oo[otherKey!] : ((JsonArray)otherParent)[otherIndex])?.DeepClone();
                Set(parent, key, index, copy);
                break;
        }
    }

    private static void Set(JsonNode parent, string? key, int index, JsonNode? value)
    {
        if (parent is JsonObject o) o[key!] = value;
        else ((JsonArray)parent)[index] = value;
    }

    // Every slot of the tree, but only the first few and last members of a large container, so that a 300-entry
    // vocabulary does not take nearly every edit.
    private static void Collect(JsonNode node, List<(JsonNode, string?, int)> slots)
    {
        if (node is JsonObject o)
        {
            var keys = o.Select(p => p.Key).ToArray();
            foreach (int i in Sampled(keys.Length))
            {
                slots.Add((o, keys[i], -1));
                if (o[keys[i]] is { } child) Collect(child, slots);
            }
        }
        else if (node is JsonArray a)
        {
            foreach (int i in Sampled(a.Count))
            {
                slots.Add((a, null, i));
                if (a[i] is { } child) Collect(child, slots);
            }
        }
    }

    private static IEnumerable<int> Sampled(int count) => count <= 8 ? Enumerable.Range(0, count) : [0, 1, 2, 3, 4, 5, count - 2, count - 1];

    public override string ToString() =>
        $"edits [{string.Join(", ", Edits.Select(e => $"({e.Kind},{e.Target},{e.Value})"))}], {Damage}";
}
