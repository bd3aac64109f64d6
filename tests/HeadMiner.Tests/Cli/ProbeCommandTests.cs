using System.Text.Json;
using HeadMiner.Cli;
using static HeadMiner.Tests.CliRunner;

namespace HeadMiner.Tests.Cli;

public class ProbeCommandTests
{
    private const string Examples = """
        {"version": 1, "task": "mood", "examples": [
         {"prompt": "Lily was happy. She", "label": 1}, {"prompt": "Tom was happy. He", "label": 1}, {"prompt": "The dog was happy. It", "label": 1},
         {"prompt": "Lily was sad. She", "label": 0}, {"prompt": "Tom was sad. He", "label": 0}, {"prompt": "The dog was sad. It", "label": 0},
         {"prompt": "Ben was glad. He", "label": 1}, {"prompt": "Ben was angry. He", "label": 0}, {"prompt": "Sue was glad. She", "label": 1}, {"prompt": "Sue was angry. She", "label": 0}]}
        """;

    private const string Pairs = """
        {"version": 1, "task": "demo", "pairs": [
         {"clean": "Lily was happy. Lily was", "corrupted": "Lily was little. Lily was", "answer": " happy", "wrong": " little"},
         {"clean": "Lily was big. Lily was", "corrupted": "Lily was happy. Lily was", "answer": " big", "wrong": " happy"}]}
        """;

    [Fact]
    public void ProbeWritesAccuracyTablesTheHeatmapAndASteeringTable()
    {
        using var dir = TestPaths.NewTempDirectory();
        File.WriteAllText(dir.File("set.json"), Examples);
        File.WriteAllText(dir.File("pairs.json"), Pairs);
        var (code, output, err) = Run("probe", "-m", TestPaths.SharedModel("stories260K"), "--set", dir.File("set.json"), "--steer", "4.1", "--alpha", "5",
            "--pairs", dir.File("pairs.json"), "-o", dir.Path);
        Assert.True(code == 0, err);
        Assert.Contains("steering head 4.1", output);
        Assert.Contains("corrupted", output);
        using var json = JsonDocument.Parse(File.ReadAllText(dir.File("probe_accuracy.json")));
        var root = json.RootElement;
        Assert.Equal(40, root.GetProperty("validation_accuracy").GetArrayLength());
        Assert.Equal(3, root.GetProperty("validation").GetInt32());
        Assert.Equal(40 * 8, root.GetProperty("directions").GetArrayLength());
        var steering = root.GetProperty("steering");
        Assert.NotEqual(steering.GetProperty("clean_before").GetDouble(), steering.GetProperty("clean_after").GetDouble());
        Assert.Equal(41, File.ReadAllLines(dir.File("probe_accuracy.csv")).Length);
        var svg = File.ReadAllText(dir.File("probe_accuracy.svg"));
        Assert.Equal(40, System.Text.RegularExpressions.Regex.Count(svg, "class=\"cell\""));
    }

    [Fact]
    public void SteeringWithoutPairsIsAUsageErrorAndBadHeadsAreReported()
    {
        using var dir = TestPaths.NewTempDirectory();
        File.WriteAllText(dir.File("set.json"), Examples);
        var (code, _, err) = Run("probe", "-m", TestPaths.SharedModel("stories260K"), "--set", dir.File("set.json"), "--steer", "4.1", "-o", dir.Path);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("--steer needs --pairs", err);
        (code, _, err) = Run("probe", "-m", TestPaths.SharedModel("stories260K"), "--set", dir.File("set.json"), "--steer", "four", "-o", dir.Path);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("LAYER.HEAD", err);
        File.WriteAllText(dir.File("bad.json"), """{"version": 1, "examples": [{"prompt": "a", "label": 2}]}""");
        (code, _, err) = Run("probe", "-m", TestPaths.SharedModel("stories260K"), "--set", dir.File("bad.json"), "-o", dir.Path);
        Assert.Equal(1, code);
        Assert.Contains("example 0 has label 2", err);
        Assert.False(File.Exists(dir.File("probe_accuracy.json")));
    }
}
