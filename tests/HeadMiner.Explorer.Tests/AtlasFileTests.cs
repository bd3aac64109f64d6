using System.Text.Json.Nodes;
using HeadMiner.Analysis.Atlas;
using HeadMiner.Models;

namespace HeadMiner.Explorer.Tests;

/// <summary>
/// A saved atlas is read with the library's reader (AtlasReport, docs/ATLAS.md) and checked against the model it is
/// served with; problems name the file and what is wrong.
/// </summary>
public sealed class AtlasFileTests
{
    private static ModelConfig Config()
    {
        using var loaded = ModelLoader.Load(TestModel.Path);
        return loaded.Model.Config;
    }

    [Fact]
    public void The_runners_atlas_file_reads_back_and_fits_the_test_model()
    {
        var atlas = AtlasFile.Load(TestModel.AtlasPath, Config());
        Assert.Equal(TestModel.Atlas.ToJson(), atlas.ToJson());
        Assert.Equal(TestModel.Layers * TestModel.Heads, atlas.Heads.Count);
        Assert.Contains(atlas.Detectors, d => d.Id == "induction" && d.Scores is not null);
    }

    [Theory]
    [InlineData("schema", "\"other\"", "schema \"other\" is not headminer.atlas")]
    [InlineData("version", "3", "atlas version 3 is newer than this tool reads (2)")]
    [InlineData("model.layers", "5", "the atlas is for 5 layers, the model has 4")]
    [InlineData("model.heads", "8", "the atlas is for 8 heads per layer, the model has 4")]
    [InlineData("detectors.0.scores", "[[1]]", "\"scores\" must have 4 rows (layers), not 1")]
    [InlineData("detectors.0.scores", "[[0,0,0],[0,0,0,0],[0,0,0,0],[0,0,0,0]]", "scores[0] must have 4 values (heads)")]
    [InlineData("detectors.0.scores", """[[0,0,0,"a"],[0,0,0,0],[0,0,0,0],[0,0,0,0]]""", "not a valid atlas")]
    [InlineData("detectors", "{}", "not a valid atlas")]
    [InlineData("heads.0.layer", "7", "heads entry L7H0 is outside the model's 4 layers × 4 heads")]
    public void A_bad_atlas_is_refused_with_a_message_naming_the_problem(string field, string json, string message)
    {
        var atlas = JsonNode.Parse(TestModel.Atlas.ToJson())!;
        var path = field.Split('.');
        JsonNode parent = atlas;
        foreach (string part in path[..^1]) parent = int.TryParse(part, out int i) ? parent[i]! : parent[part]!;
        parent[path[^1]] = JsonNode.Parse(json);
        var e = Assert.Throws<HeadMinerException>(() => AtlasFile.CheckFits(AtlasReport.Parse(atlas.ToJsonString(), "bad.json"), Config(), "bad.json"));
        Assert.StartsWith("bad.json: ", e.Message);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public async Task The_server_does_not_start_with_an_atlas_that_does_not_fit_the_model()
    {
        string path = Path.Combine(Path.GetTempPath(), $"headminer-atlas-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, TestModel.Atlas.ToJson().Replace("\"heads\": 4", "\"heads\": 6", StringComparison.Ordinal));
        try
        {
            var e = await Assert.ThrowsAsync<HeadMinerException>(() => ExplorerServer.StartAsync(new ExplorerOptions { Models = [new ExplorerModelSpec(TestModel.Path, path)], Port = 0 }));
            Assert.Contains(path, e.Message);
            Assert.Contains("the atlas is for 6 heads per layer, the model has 4", e.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
