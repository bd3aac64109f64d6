using System.Text.Json;
using System.Text.Json.Nodes;
using HeadMiner.Models;

namespace HeadMiner.Explorer;

/// <summary>
/// Reads a saved atlas.json (docs/ATLAS.md, schema "headminer.atlas" version 1) and checks what the page relies on:
/// the schema and version, and that every detector's scores are layers × heads of the model it is served with.
/// Unknown fields are kept (readers must ignore them).
/// </summary>
public static class AtlasFile
{
    public const string Schema = "headminer.atlas";
    public const int Version = 1;

    /// <summary>The file name looked for inside a model directory when no --atlas is given.</summary>
    public const string DefaultName = "atlas.json";

    public static JsonObject Load(string path, ModelConfig config)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new HeadMinerException($"{path}: could not read the atlas: {e.Message}", e);
        }
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(text);
        }
        catch (JsonException e)
        {
            throw new HeadMinerException($"{path}: not valid JSON: {e.Message}", e);
        }
        return Validate(node as JsonObject ?? throw new HeadMinerException($"{path}: an atlas must be a JSON object"), config, path);
    }

    public static JsonObject Validate(JsonObject atlas, ModelConfig config, string source)
    {
        if (Str(atlas, "schema") != Schema) throw new HeadMinerException($"{source}: \"schema\" must be \"{Schema}\"");
        if (atlas["version"] is not JsonValue v || !v.TryGetValue(out int version) || version != Version)
            throw new HeadMinerException($"{source}: \"version\" must be {Version} (this explorer reads atlas.json version {Version})");
        if (atlas["model"] is JsonObject model)
        {
            if (Int(model, "layers") is int layers && layers != config.Layers)
                throw new HeadMinerException($"{source}: the atlas is for {layers} layers, the model has {config.Layers}");
            if (Int(model, "heads") is int heads && heads != config.Heads)
                throw new HeadMinerException($"{source}: the atlas is for {heads} heads per layer, the model has {config.Heads}");
        }
        if (atlas["detectors"] is not JsonArray detectors) throw new HeadMinerException($"{source}: \"detectors\" must be an array");
        for (int i = 0; i < detectors.Count; i++)
        {
            if (detectors[i] is not JsonObject d || Str(d, "id") is not string id) throw new HeadMinerException($"{source}: detectors[{i}] needs an \"id\"");
            if (d["scores"] is null) continue; // skipped / failed detectors have no scores
            if (d["scores"] is not JsonArray rows || rows.Count != config.Layers)
                throw new HeadMinerException($"{source}: detector {id}: \"scores\" must have {config.Layers} rows (layers)");
            for (int l = 0; l < rows.Count; l++)
            {
                if (rows[l] is not JsonArray row || row.Count != config.Heads)
                    throw new HeadMinerException($"{source}: detector {id}: scores[{l}] must have {config.Heads} values (heads)");
                for (int h = 0; h < row.Count; h++)
                    if (row[h] is not null && (row[h] is not JsonValue cell || !cell.TryGetValue(out double _)))
                        throw new HeadMinerException($"{source}: detector {id}: scores[{l}][{h}] must be a number or null");
            }
        }
        if (atlas["heads"] is not null and not JsonArray) throw new HeadMinerException($"{source}: \"heads\" must be an array");
        return atlas;
    }

    private static string? Str(JsonObject o, string name) => o[name] is JsonValue v && v.TryGetValue(out string? s) ? s : null;

    private static int? Int(JsonObject o, string name) => o[name] is JsonValue v && v.TryGetValue(out int i) ? i : null;
}
