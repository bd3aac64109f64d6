using System.Text.Json.Nodes;
using HeadMiner.Models;

namespace HeadMiner.Explorer.Tests;

/// <summary>A saved atlas is checked against docs/ATLAS.md and the model it is served with; problems name the file and field.</summary>
public sealed class AtlasFileTests
{
    private static ModelConfig Config()
    {
        using var loaded = ModelLoader.Load(TestModel.Path);
        return loaded.Model.Config;
    }

    [Fact]
    public void The_fixture_atlas_is_valid_for_the_test_model()
    {
        var atlas = AtlasFile.Load(TestModel.AtlasPath, Config());
        Assert.Equal(3, atlas["detectors"]!.AsArray().Count);
    }

    [Theory]
    [InlineData("schema", "\"other\"", "\"schema\" must be \"headminer.atlas\"")]
    [InlineData("version", "2", "\"version\" must be 1")]
    [InlineData("model", """{"layers": 4, "heads": 8}""", "the atlas is for 4 layers, the model has 5")]
    [InlineData("detectors", """[{"id": "x", "scores": [[1]]}]""", "detector x: \"scores\" must have 5 rows")]
    [InlineData("detectors", """[{"id": "x", "scores": [[0,0,0,0,0,0,0,"a"],[0,0,0,0,0,0,0,0],[0,0,0,0,0,0,0,0],[0,0,0,0,0,0,0,0],[0,0,0,0,0,0,0,0]]}]""", "scores[0][7] must be a number or null")]
    [InlineData("detectors", "{}", "\"detectors\" must be an array")]
    public void A_bad_atlas_is_refused_with_a_message_naming_the_problem(string field, string json, string message)
    {
        var atlas = JsonNode.Parse(File.ReadAllText(TestModel.AtlasPath))!.AsObject();
        atlas[field] = JsonNode.Parse(json);
        var e = Assert.Throws<HeadMinerException>(() => AtlasFile.Validate(atlas, Config(), "bad.json"));
        Assert.StartsWith("bad.json: ", e.Message);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public async Task The_server_does_not_start_with_an_atlas_that_does_not_fit_the_model()
    {
        string path = Path.Combine(Path.GetTempPath(), $"headminer-atlas-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, """{"schema": "headminer.atlas", "version": 1, "detectors": [{"id": "d", "scores": [[0.5]]}]}""");
        try
        {
            var e = await Assert.ThrowsAsync<HeadMinerException>(() => ExplorerServer.StartAsync(new ExplorerOptions { Models = [new ExplorerModelSpec(TestModel.Path, path)], Port = 0 }));
            Assert.Contains(path, e.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
