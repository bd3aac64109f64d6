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
    public void ResumeContinuesFromTheCheckpointInTheOutputDirectory()
    {
        using var dir = TestPaths.NewTempDirectory();
        using var straight = TestPaths.NewTempDirectory();
        var (code, _, err) = Run("train", "--preset", "repeats", "--steps", "12", "-o", straight.Path);
        Assert.True(code == 0, err);
        // Writing checkpoints along the way changes nothing; resuming a finished run trains no further step; a
        // resumed run cannot change the step count its learning-rate schedule was built for. (Stopping and resuming
        // mid-run is TrainingCheckpointTests' job.)
        (code, _, err) = Run("train", "--preset", "repeats", "--steps", "12", "--checkpoint-every", "4", "-o", dir.Path);
        Assert.True(code == 0, err);
        Assert.Equal(File.ReadAllBytes(straight.File("model.safetensors")), File.ReadAllBytes(dir.File("model.safetensors")));
        var (code2, output, err2) = Run("train", "--preset", "repeats", "-o", dir.Path, "--resume");
        Assert.True(code2 == 0, err2);
        Assert.Contains("resuming", output);
        Assert.Contains("at step 12 of 12", output);
        (code2, _, err2) = Run("train", "--preset", "repeats", "-o", dir.Path, "--resume", "--steps", "20");
        Assert.Equal(HeadMiner.Cli.ExitCodes.Usage, code2);
        Assert.Contains("resume without --steps", err2);
    }

    [Fact]
    public void UnknownPresetIsAUsageError()
    {
        var (code, _, err) = Run("train", "--preset", "nope");
        Assert.Equal(HeadMiner.Cli.ExitCodes.Usage, code);
        Assert.Contains("available: repeats", err);
    }
}
