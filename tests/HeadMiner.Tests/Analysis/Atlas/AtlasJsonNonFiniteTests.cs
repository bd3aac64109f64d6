using System.Text.Json;
using HeadMiner.Analysis.Atlas;
using HeadMiner.Models;
using HeadMiner.Tests.Models;

namespace HeadMiner.Tests.Analysis.Atlas;

/// <summary>atlas.json with a non-finite number: written (null, listed under "non_finite") and read back, never a crash after the work.</summary>
public class AtlasJsonNonFiniteTests
{
    [Fact]
    public void ANonFiniteFieldIsNullListedUnderNonFiniteAndTheFileReadsBack()
    {
        using var model = TinyModels.Create(TinyModels.Gpt2Like());
        var report = new AtlasReport
        {
            CreatedUtc = "2026-01-01T00:00:00Z",
            ToolVersion = "0",
            Seed = 1,
            Model = AtlasModel.InMemory(model, "tiny"),
            Detectors =
            [
                new AtlasDetector { Id = "a", Kind = "pattern", Description = "", Status = "ran", Seconds = 0.5, Threshold = 0.1, Baseline = double.PositiveInfinity },
                new AtlasDetector { Id = "b", Kind = "pattern", Description = "", Status = "ran", Seconds = double.NaN },
            ],
            Heads = [],
        };
        using var dir = TestPaths.NewTempDirectory();
        var written = report.Write(dir.File("atlas.json"));
        Assert.Equal([("$.detectors[0].baseline", "Infinity"), ("$.detectors[1].seconds", "NaN")], written.NonFinite.Select(v => (v.Path, v.Value)));

        string json = File.ReadAllText(dir.File("atlas.json"));
        using var doc = JsonDocument.Parse(json);
        var detectors = doc.RootElement.GetProperty("detectors");
        Assert.Equal(JsonValueKind.Null, detectors[0].GetProperty("baseline").ValueKind);
        Assert.Equal(JsonValueKind.Null, detectors[1].GetProperty("seconds").ValueKind);
        Assert.Equal("0.1", detectors[0].GetProperty("threshold").GetRawText());
        Assert.Equal(2, doc.RootElement.GetProperty("non_finite").GetProperty("count").GetInt32());

        var back = AtlasReport.Read(dir.File("atlas.json"));
        Assert.Null(back.Detectors[0].Baseline);
        Assert.True(double.IsNaN(back.Detectors[1].Seconds));
        Assert.Equal(0.5, back.Detectors[0].Seconds);
    }
}
