using HeadMiner.Analysis.Atlas;
using HeadMiner.Models;

namespace HeadMiner.Explorer;

/// <summary>
/// A saved atlas.json for a served model: read with the library's one schema reader (<see cref="AtlasReport"/>,
/// docs/ATLAS.md), then checked for what the page relies on — that the atlas is for a model of this shape and every
/// detector's scores are layers × heads — so a mismatched file stops the server at start-up, naming the file.
/// </summary>
public static class AtlasFile
{
    /// <summary>The file name looked for inside a model directory when no --atlas is given.</summary>
    public const string DefaultName = "atlas.json";

    public static AtlasReport Load(string path, ModelConfig config) => CheckFits(AtlasReport.Read(path), config, path);

    public static AtlasReport CheckFits(AtlasReport atlas, ModelConfig config, string source)
    {
        if (atlas.Model.Layers != config.Layers)
            throw new HeadMinerException($"{source}: the atlas is for {atlas.Model.Layers} layers, the model has {config.Layers}");
        if (atlas.Model.Heads != config.Heads)
            throw new HeadMinerException($"{source}: the atlas is for {atlas.Model.Heads} heads per layer, the model has {config.Heads}");
        foreach (var d in atlas.Detectors)
        {
            if (d.Scores is not { } rows) continue; // skipped / failed detectors have no scores
            if (rows.Length != config.Layers)
                throw new HeadMinerException($"{source}: detector {d.Id}: \"scores\" must have {config.Layers} rows (layers), not {rows.Length}");
            for (int l = 0; l < rows.Length; l++)
                if (rows[l] is not { } row || row.Length != config.Heads)
                    throw new HeadMinerException($"{source}: detector {d.Id}: scores[{l}] must have {config.Heads} values (heads)");
        }
        foreach (var h in atlas.Heads)
            if ((uint)h.Layer >= (uint)config.Layers || (uint)h.Head >= (uint)config.Heads)
                throw new HeadMinerException($"{source}: heads entry L{h.Layer}H{h.Head} is outside the model's {config.Layers} layers × {config.Heads} heads");
        return atlas;
    }
}
