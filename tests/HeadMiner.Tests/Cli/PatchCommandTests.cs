using System.Text.Json;
using HeadMiner.Cli;
using static HeadMiner.Tests.CliRunner;

namespace HeadMiner.Tests.Cli;

public class PatchCommandTests
{
    private const string Pairs = """
        {"version": 1, "task": "demo", "pairs": [
         {"clean": "Lily was happy. Lily was", "corrupted": "Lily was little. Lily was", "answer": " happy", "wrong": " little"},
         {"clean": "Lily was big. Lily was", "corrupted": "Lily was happy. Lily was", "answer": " big", "wrong": " happy"}]}
        """;

    [Fact]
    public void PatchWritesJsonAndCsvForTheRealModel()
    {
        using var dir = TestPaths.NewTempDirectory();
        File.WriteAllText(dir.File("pairs.json"), Pairs);
        var (code, output, err) = Run("patch", "-m", TestPaths.SharedModel("stories260K"), "--pairs", dir.File("pairs.json"), "--target", "z", "-o", dir.Path);
        Assert.True(code == 0, err);
        Assert.Contains("strongest cells", output);
        using var json = JsonDocument.Parse(File.ReadAllText(dir.File("patching.json")));
        var root = json.RootElement;
        Assert.Equal(new[] { 5, 8 }, root.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal("none", root.GetProperty("weight_processing").GetString());
        Assert.Equal(40, root.GetProperty("normalized").GetArrayLength());
        Assert.Equal(41, File.ReadAllLines(dir.File("patching.csv")).Length);

        // patching.html: the same sweep as a layer × head heatmap (values = the normalised cells, row by row).
        var grid = HeadMiner.Tests.Reports.HtmlReportTests.DataOf(File.ReadAllText(dir.File("patching.html"))).GetProperty("sections")[1];
        Assert.Equal("heatmap", grid.GetProperty("kind").GetString());
        var normalized = root.GetProperty("normalized").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        var cells = grid.GetProperty("values").EnumerateArray().SelectMany(r => r.EnumerateArray()).ToArray();
        Assert.Equal(40, cells.Length);
        for (int i = 0; i < 40; i++) Assert.Equal(normalized[i], cells[i].GetDouble(), 5);
    }

    [Fact]
    public void BadTargetIsAUsageErrorAndWritesNothing()
    {
        using var dir = TestPaths.NewTempDirectory();
        File.WriteAllText(dir.File("pairs.json"), Pairs);
        var (code, _, err) = Run("patch", "-m", TestPaths.SharedModel("stories260K"), "--pairs", dir.File("pairs.json"), "--target", "resid_pre:pos", "-o", dir.Path);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("has no heads", err);
        Assert.False(File.Exists(dir.File("patching.json")));
    }
}
