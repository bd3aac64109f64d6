using System.Text.RegularExpressions;
using HeadMiner.Models;
using HeadMiner.Models.Formats;
using HeadMiner.Tests.Training;
using HeadMiner.Training;
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
    public void ADivergingRunStopsWithFiniteWeightsAndExitsOne()
    {
        // A learning rate far too large is how a real run diverges: the first updates leave huge but finite weights,
        // then the loss is NaN. The run must stop there, keep the step before and say how to go on.
        using var dir = TestPaths.NewTempDirectory();
        var (code, _, err) = Run("train", "--preset", "repeats", "--steps", "30", "--lr", "1e8", "-o", dir.Path);
        Assert.Equal(HeadMiner.Cli.ExitCodes.Failure, code);
        var match = Regex.Match(err, @"error: training diverged at step (\d+): the loss is not finite \(loss NaN");
        Assert.True(match.Success, err);
        int step = int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(step, 1, 29);
        Assert.Contains($"kept the last finite state, before step {step}, in {dir.Path}", err);
        Assert.Contains($"headminer train --preset repeats -o {dir.Path} --force --lr 1E+07", err);

        using (var weights = SafetensorsFile.Open(dir.File("model.safetensors")))
        {
            Assert.Equal(step.ToString(System.Globalization.CultureInfo.InvariantCulture), weights.Metadata["headminer_next_step"]);
            foreach (string name in weights.TensorNames) Assert.True(weights.GetFloat32(name).ToArray().All(float.IsFinite), name);
        }
        Assert.Equal(step + 1, File.ReadAllLines(dir.File(TrainingCheckpoint.CurveCsvName)).Length); // header + steps 0 … step − 1

        // Resuming takes the same step again (data and schedule are functions of the step): the same stop, and the
        // kept weights are written again unchanged.
        var kept = File.ReadAllBytes(dir.File("model.safetensors"));
        (code, _, err) = Run("train", "--preset", "repeats", "-o", dir.Path, "--resume");
        Assert.Equal(HeadMiner.Cli.ExitCodes.Failure, code);
        Assert.Contains($"training diverged at step {step}", err);
        Assert.Equal(kept, File.ReadAllBytes(dir.File("model.safetensors")));
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-1e-3")]
    [InlineData("NaN")]
    [InlineData("Infinity")]
    public void ALearningRateThatIsNotAPositiveNumberIsAUsageError(string lr)
    {
        using var dir = TestPaths.NewTempDirectory();
        var (code, _, err) = Run("train", "--preset", "repeats", "--steps", "2", "--lr", lr, "-o", dir.Path);
        Assert.Equal(HeadMiner.Cli.ExitCodes.Usage, code);
        Assert.Contains("--lr", err);
        Assert.Empty(Directory.GetFileSystemEntries(dir.Path));
    }

    [Fact]
    public void ResumingANonFiniteCheckpointIsRefusedBeforeAnythingIsWritten()
    {
        // A checkpoint in the middle of a run (2 of 30 steps, as Ctrl+C leaves it) whose optimizer state holds a NaN:
        // before the fix, resuming trained the remaining steps on NaN and overwrote model.safetensors with NaN.
        using var dir = TestPaths.NewTempDirectory();
        var preset = TrainingPreset.Repeats;
        var trainer = new Trainer(new Gpt2TrainingModel(preset.Config, preset.Options.Seed), preset.Data(), preset.Options with { Steps = 30, EvalEvery = 0 });
        using (var cancel = new CancellationTokenSource())
        {
            Assert.Throws<OperationCanceledException>(() => trainer.Run(new StopAt(2, cancel), cancel.Token, _ => TrainingCheckpoint.Save(dir.Path, trainer)));
        }
        string state = dir.File(TrainingCheckpoint.StateFileName);
        string tensor = CheckpointPoisoning.Poison(state, "ln_f.w" + AdamW.FirstMomentSuffix, 9, float.NaN);
        var before = Directory.GetFiles(dir.Path).ToDictionary(f => f, File.ReadAllBytes);

        var (code, output, err) = Run("train", "--preset", "repeats", "-o", dir.Path, "--resume");
        Assert.Equal(HeadMiner.Cli.ExitCodes.Failure, code);
        Assert.Contains($"error: {state}: tensor {tensor}: [9] is NaN", err);
        Assert.DoesNotContain("resuming", output);
        Assert.Equal(before.Keys.Order(), Directory.GetFiles(dir.Path).Order());
        foreach (var (file, bytes) in before) Assert.Equal(bytes, File.ReadAllBytes(file));
    }

    [Fact]
    public void AnExistingRunIsNeitherOverwrittenNorMixedWithoutResumeOrForce()
    {
        using var dir = TestPaths.NewTempDirectory(); // exists and is empty: fine for a new run
        File.WriteAllText(dir.File("notes.txt"), "mine");
        var (code, _, err) = Run("train", "--preset", "repeats", "--steps", "3", "-o", dir.Path);
        Assert.True(code == 0, err);
        var kept = Directory.GetFiles(dir.Path).ToDictionary(f => f, File.ReadAllBytes);

        (code, _, err) = Run("train", "--preset", "repeats", "--steps", "3", "--seed", "9", "-o", dir.Path);
        Assert.Equal(HeadMiner.Cli.ExitCodes.Usage, code);
        Assert.Contains($"{dir.Path} already holds a training run", err);
        Assert.Contains("continue it with --resume, or replace it with --force", err);
        foreach (var (file, bytes) in kept) Assert.Equal(bytes, File.ReadAllBytes(file));

        (code, _, err) = Run("train", "--preset", "repeats", "-o", dir.Path, "--resume", "--force");
        Assert.Equal(HeadMiner.Cli.ExitCodes.Usage, code);
        Assert.Contains("--resume and --force cannot be combined", err);
        foreach (var (file, bytes) in kept) Assert.Equal(bytes, File.ReadAllBytes(file));
    }

    [Fact]
    public void ForceReplacesARunAndLeavesNoFileOfTheOldOne()
    {
        // The old run is the embedded preset's, which writes tokenizer.json and headminer.json; the new one (repeats)
        // writes neither, so a stale copy would be read as the new model's tokenizer and hints.
        using var dir = TestPaths.NewTempDirectory();
        var (code, _, err) = Run("train", "--preset", "embedded", "--steps", "1", "-o", dir.Path);
        Assert.True(code == 0, err);
        Assert.True(File.Exists(dir.File("tokenizer.json")) && File.Exists(dir.File(HeadMiner.Analysis.Detectors.AnalysisHints.FileName)));
        File.WriteAllText(dir.File("notes.txt"), "mine");

        (code, _, err) = Run("train", "--preset", "repeats", "--steps", "3", "--force", "-o", dir.Path);
        Assert.True(code == 0, err);
        Assert.False(File.Exists(dir.File("tokenizer.json")));
        Assert.False(File.Exists(dir.File(HeadMiner.Analysis.Detectors.AnalysisHints.FileName)));
        Assert.Equal("mine", File.ReadAllText(dir.File("notes.txt"))); // not a file of the run
        Assert.Equal(4, File.ReadAllLines(dir.File(TrainingCheckpoint.CurveCsvName)).Length);
        Assert.Equal(TrainingPreset.Repeats.Options with { Steps = 3, WarmupSteps = 3 }, TrainingCheckpoint.ReadOptions(dir.Path));
        using var loaded = ModelLoader.Load(dir.Path);
        Assert.Equal(TrainingPreset.Repeats.Config.VocabSize, loaded.Model.Config.VocabSize);
        Assert.Null(loaded.Tokenizer);
    }

    [Fact]
    public void UnknownPresetIsAUsageError()
    {
        var (code, _, err) = Run("train", "--preset", "nope");
        Assert.Equal(HeadMiner.Cli.ExitCodes.Usage, code);
        Assert.Contains("available: repeats", err);
    }

    /// <summary>Cancels after step <paramref name="step"/>, synchronously (Progress&lt;T&gt; would post to the thread pool).</summary>
    private sealed class StopAt(int step, CancellationTokenSource cancel) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value)
        {
            if (value.Step == step) cancel.Cancel();
        }
    }
}
