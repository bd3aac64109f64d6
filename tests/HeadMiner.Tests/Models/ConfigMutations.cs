using System.Text;
using System.Text.Json.Nodes;
using FsCheck;
using FsCheck.Fluent;

namespace HeadMiner.Tests.Models;

/// <summary>A damaged config.json for one parity-fixture family, with what was done to it (shown when a case fails).</summary>
public sealed record ConfigMutation(string Family, string Description, byte[] Bytes)
{
    public override string ToString() => $"{Family}: {Description}";
}

/// <summary>FsCheck generators of damaged configs: structured edits of the parity fixtures' config.json and raw damage.</summary>
public static class ConfigMutations
{
    private static readonly string[] Families = ["gpt2", "gpt_neo", "gpt_neox", "llama", "llama3", "mistral", "qwen2", "smollm2", "phi3", "phi3_long", "qwen3", "olmo2", "gemma", "gemma2", "gemma3"];

    /// <summary>Replacement values as raw JSON text: wrong types, NaN-ish strings, out-of-range and overflowing numbers.</summary>
    private static readonly string[] RawValues =
    [
        "null", "true", "\"768\"", "\"NaN\"", "\"Infinity\"", "\"-inf\"", "\"\"", "[]", "[1, 2]", "{}", "{\"a\": 1}",
        "0", "-1", "1", "2", "3", "-0.5", "0.5", "1.5", "3.0", "-1e-05", "0.0", "1e-50", "1e308", "1e999", "-1e999",
        "2147483647", "2147483648", "-2147483649", "9223372036854775808", "99999999999999999999999", "65537", "4097",
    ];

    public static Arbitrary<ConfigMutation> Configs() => ConfigGen().ToArbitrary();

    public static Arbitrary<HeaderMutation> Headers() =>
        (from count in Gen.Choose(1, 3)
         from changes in Gen.ArrayOf(
             from field in Gen.Choose(0, 6)
             from value in Gen.OneOf(
                 Gen.Elements(0, -1, 1, 2, 3, 7, int.MaxValue, int.MinValue, 4096, 4097, 1 << 16, (1 << 16) + 1),
                 Gen.Choose(-64, 600),
                 Gen.Choose(int.MinValue, int.MaxValue))
             select (field, value), count)
         from resize in Gen.Elements(true, false)
         select new HeaderMutation(changes, resize)).ToArbitrary();

    private static Gen<ConfigMutation> ConfigGen() =>
        from family in Gen.Elements(Families)
        from kind in Gen.Frequency(
            (6, Gen.Constant("replace")),
            (2, Gen.Constant("delete")),
            (2, Gen.Constant("scale")),
            (2, Gen.Constant("nested")),
            (1, Gen.Constant("truncate")),
            (1, Gen.Constant("random bytes")))
        from pick in Gen.Choose(0, 1 << 20)
        from value in Gen.Elements(RawValues)
        from factor in Gen.Elements(2.0, 0.5, -1.0, 0.0, 3.0, 1e6)
        from bytes in Gen.ArrayOf(Gen.Choose(0, 255).Select(b => (byte)b), 64)
        select Mutate(family, kind, pick, value, factor, bytes);

    private static ConfigMutation Mutate(string family, string kind, int pick, string raw, double factor, byte[] randomBytes)
    {
        string text = File.ReadAllText(Path.Combine(TestPaths.Fixture("parity", family), "config.json"));
        var root = JsonNode.Parse(text)!.AsObject();
        var keys = root.Select(p => p.Key).Order(StringComparer.Ordinal).ToArray();
        string key = keys[pick % keys.Length];
        switch (kind)
        {
            case "delete":
                root.Remove(key);
                return new(family, $"deleted \"{key}\"", Encode(root));
            case "replace":
                return new(family, $"\"{key}\" = {raw}", Replace(root, node => node[key] = Placeholder, raw));
            case "scale":
                {
                    var numeric = keys.Where(k => root[k] is JsonValue v && v.TryGetValue<double>(out _)).ToArray();
                    string target = numeric[pick % numeric.Length];
                    double scaled = root[target]!.GetValue<double>() * factor;
                    root[target] = JsonValue.Create(scaled);
                    return new(family, $"\"{target}\" × {factor} = {scaled}", Encode(root));
                }
            case "nested":
                {
                    // Inside the structured values: llama3's and phi3's rope_scaling, GPT-Neo's attention_types, eos lists.
                    if (root["rope_scaling"] is JsonObject rope)
                    {
                        var fields = rope.Select(p => p.Key).Order(StringComparer.Ordinal).ToArray();
                        string field = fields[pick % fields.Length];
                        return new(family, $"rope_scaling.{field} = {raw}", Replace(root, _ => rope[field] = Placeholder, raw));
                    }
                    if (root["attention_types"] is JsonArray types)
                        return new(family, $"attention_types[0][{pick % 2}] = {raw}", Replace(root, _ => types[0]![pick % 2] = Placeholder, raw));
                    return new(family, $"\"{key}\" = [{raw}]", Replace(root, node => node[key] = new JsonArray(Placeholder), raw));
                }
            case "truncate":
                {
                    byte[] full = Encoding.UTF8.GetBytes(text);
                    int length = pick % full.Length;
                    return new(family, $"truncated to {length} of {full.Length} bytes", full[..length]);
                }
            default:
                return new(family, $"{randomBytes.Length} random bytes", randomBytes);
        }
    }

    private const string Placeholder = "\u0001RAW\u0001";

    /// <summary>Applies <paramref name="edit"/> with a placeholder string, then swaps in raw JSON text (1e999 and friends have no JsonNode).</summary>
    private static byte[] Replace(JsonObject root, Action<JsonObject> edit, string raw)
    {
        edit(root);
        string json = root.ToJsonString().Replace("\"\\u0001RAW\\u0001\"", raw, StringComparison.Ordinal);
        return Encoding.UTF8.GetBytes(json);
    }

    private static byte[] Encode(JsonObject root) => Encoding.UTF8.GetBytes(root.ToJsonString());
}
