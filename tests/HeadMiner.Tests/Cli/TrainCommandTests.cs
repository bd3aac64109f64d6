using HeadMiner.Models;
using static HeadMiner.Tests.CliRunner;

namespace HeadMiner.Tests.Cli;

public class TrainCommandTests
{
    [Fact]
    public void TrainWritesALoadableModelAndItsCurve()
    {
        using var dir = TestPaths.NewTempDirectory();
        var (code, output, err) = Run("train", "--preset", "repeats", "--steps", "40", "-o", dir.Path);
        Assert.True(code == 0, err);
        Assert.Contains("held-out loss", output);
        foreach (var file in new[] { "config.json", "model.safetensors", "training_curve.csv", "training_curve.svg", "training_curve.html" })
            Assert.True(File.Exists(dir.File(file)), file);
        Assert.Equal(41, File.ReadAllLines(dir.File("training_curve.csv")).Length);
        var chart = HeadMiner.Tests.Reports.HtmlReportTests.DataOf(File.ReadAllText(dir.File("training_curve.html"))).GetProperty("sections")[0];
        Assert.Equal("train", chart.GetProperty("series")[0].GetProperty("name").GetString());
        Assert.Equal(40, chart.GetProperty("series")[0].GetProperty("x").GetArrayLength()); // one point per step (the CSV has a header)
        using var loaded = ModelLoader.Load(dir.Path);
        Assert.Equal(2, loaded.Model.Config.Layers);
        Assert.Empty(loaded.UnusedTensors);
    }

    [Fact]
    public void UnknownPresetIsAUsageError()
    {
        var (code, _, err) = Run("train", "--preset", "nope");
        Assert.Equal(HeadMiner.Cli.ExitCodes.Usage, code);
        Assert.Contains("available: repeats", err);
    }
}
