using System.Text.Json;
using HeadMiner.Analysis.Catalog;
using HeadMiner.Cli;
using static HeadMiner.Tests.CliRunner;

namespace HeadMiner.Tests.Cli;

public class CatalogCommandTests
{
    [Fact]
    public void TheTableListsEveryTypeWithADashForTheUndetectable()
    {
        var (code, output, err) = Run("catalog");
        Assert.True(code == 0, err);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        int count = HeadCatalog.Load().Types.Count;
        Assert.Equal(count + 2, lines.Length); // header, one row per type, summary
        Assert.Matches(@"^induction\s+LR\s+induction\s+16\s+\S", lines.Single(l => l.StartsWith("induction ", StringComparison.Ordinal)));
        Assert.Matches(@"^summary_reader\s+LR\s+—\s+0\s+\S", lines.Single(l => l.StartsWith("summary_reader ", StringComparison.Ordinal)));
    }

    [Fact]
    public void StageAndDetectableFilterAndJsonCarriesEveryField()
    {
        var (code, output, err) = Run("catalog", "--stage", "ici", "--detectable", "--json");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(output);
        var types = doc.RootElement.GetProperty("types").EnumerateArray().ToList();
        Assert.Equal(types.Count, doc.RootElement.GetProperty("count").GetInt32());
        Assert.Equal(HeadCatalog.Load().InStage(HeadStage.ICI).Count(t => t.IsDetectable), types.Count);
        Assert.All(types, t =>
        {
            Assert.Equal("ICI", t.GetProperty("stage").GetString());
            Assert.Equal(JsonValueKind.String, t.GetProperty("detector").ValueKind);
        });
        var previous = types.Single(t => t.GetProperty("id").GetString() == "previous_token");
        Assert.Contains("Previous Head", previous.GetProperty("aliases").EnumerateArray().Select(a => a.GetString()));
        Assert.Equal(5, previous.GetProperty("papers").GetArrayLength());
    }

    [Fact]
    public void UnknownStageIsAUsageErrorListingTheFour()
    {
        var (code, output, err) = Run("catalog", "--stage", "XYZ");
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Equal("", output);
        Assert.Contains("KR, ICI, LR, EP", err);
    }
}
