using HeadMiner.Models;
using HeadMiner.Models.Formats;
using HeadMiner.Tensors;

namespace HeadMiner.Tests.Models;

/// <summary>
/// The checkpoint and config.json must describe the same model. A config with fewer layers than the checkpoint, or
/// tensors nothing reads, is refused (it would be a silently truncated model) unless --allow-unused asks to load it
/// anyway with a note; missing tensors and wrong shapes name the tensor and the file.
/// </summary>
public class CheckpointConfigAgreementTests
{
    private static string Gpt2Fixture => TestPaths.Fixture("parity", "gpt2");

    /// <summary>The GPT-2 parity fixture with its checkpoint rewritten by <paramref name="edit"/> (and its own config).</summary>
    private static TestPaths.TempDirectory Gpt2WithCheckpoint(Action<Dictionary<string, Tensor>> edit)
    {
        var dir = TestPaths.NewTempDirectory();
        File.Copy(Path.Combine(Gpt2Fixture, "config.json"), dir.File("config.json"));
        using var checkpoint = SafetensorsCheckpoint.Open(Path.Combine(Gpt2Fixture, "model.safetensors"));
        var tensors = checkpoint.TensorNames.ToDictionary(n => n, n => checkpoint.GetFloat32(n).Contiguous());
        edit(tensors);
        SafetensorsWriter.Write(dir.File("model.safetensors"), tensors);
        return dir;
    }

    [Fact]
    public void ConfigWithFewerLayersThanTheCheckpointIsRefusedNamingTheUnusedTensors()
    {
        using var dir = ConfigValidationTests.WithConfigValue("gpt2", "n_layer", "1");
        var e = Assert.Throws<HeadMinerException>(() => ModelLoader.Load(dir.Path));
        Assert.Equal(
            $"{dir.File("model.safetensors")}: 12 checkpoint tensors are not used by the gpt2 model that {dir.File("config.json")} describes (1 layer): " +
            "\"transformer.h.1.attn.c_attn.bias\", \"transformer.h.1.attn.c_attn.weight\", \"transformer.h.1.attn.c_proj.bias\", " +
            "\"transformer.h.1.attn.c_proj.weight\", \"transformer.h.1.ln_1.bias\", …; config.json may declare fewer layers or another " +
            "architecture than the checkpoint holds (pass --allow-unused to load it anyway, ignoring them)",
            e.Message);
    }

    [Fact]
    public void AllowUnusedLoadsTheConfiguredLayersAndListsWhatWasIgnored()
    {
        using var dir = ConfigValidationTests.WithConfigValue("gpt2", "n_layer", "1");
        using var loaded = ModelLoader.Load(dir.Path, new LoadOptions { AllowUnused = true });
        Assert.Equal(1, loaded.Model.Config.Layers);
        Assert.Equal(12, loaded.UnusedTensors.Count);
        Assert.All(loaded.UnusedTensors, n => Assert.StartsWith("transformer.h.1.", n));
    }

    [Fact]
    public void CliRefusesWithOneLineAndAllowUnusedPrintsANote()
    {
        using var dir = ConfigValidationTests.WithConfigValue("gpt2", "n_layer", "1");
        var (code, stdout, stderr) = CliRunner.Run("info", "-m", dir.Path);
        Assert.Equal(1, code);
        Assert.Equal("", stdout);
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("--allow-unused", stderr);

        (code, stdout, stderr) = CliRunner.Run("info", "-m", dir.Path, "--allow-unused");
        Assert.Equal(0, code);
        Assert.Matches(@"layers\s+1\n", stdout.ReplaceLineEndings("\n"));
        Assert.Equal(
            "note: --allow-unused: ignoring 12 checkpoint tensors the config does not use: transformer.h.1.attn.c_attn.bias, " +
            "transformer.h.1.attn.c_attn.weight, transformer.h.1.attn.c_proj.bias, transformer.h.1.attn.c_proj.weight, " +
            "transformer.h.1.ln_1.bias, … (7 more)",
            stderr.TrimEnd());
    }

    [Theory]
    [InlineData("info")]
    [InlineData("logits")]
    [InlineData("generate")]
    [InlineData("logit-lens")]
    [InlineData("detect")]
    [InlineData("atlas")]
    [InlineData("patch")]
    [InlineData("path-patch")]
    [InlineData("attrib-patch")]
    [InlineData("ablate")]
    [InlineData("dla")]
    [InlineData("probe")]
    [InlineData("tasks", "list")]
    [InlineData("tasks", "generate")]
    public void EveryModelLoadingCommandOffersAllowUnused(params string[] command)
    {
        var (code, stdout, _) = CliRunner.Run([.. command, "--help"]);
        Assert.Equal(0, code);
        Assert.Contains("--allow-unused", stdout);
    }

    [Fact]
    public void TensorOfNoLayerIsRefusedByName()
    {
        using var dir = Gpt2WithCheckpoint(t => t["transformer.h.0.attn.rotary.weight"] = Tensor.Zeros(4));
        var e = Assert.Throws<HeadMinerException>(() => ModelLoader.Load(dir.Path));
        Assert.StartsWith($"{dir.File("model.safetensors")}: 1 checkpoint tensor is not used by the gpt2 model", e.Message);
        Assert.Contains("(2 layers): \"transformer.h.0.attn.rotary.weight\";", e.Message);
    }

    [Fact]
    public void MissingTensorNamesTheTensorAndTheFile()
    {
        using var dir = Gpt2WithCheckpoint(t => t.Remove("transformer.h.1.mlp.c_fc.weight"));
        var e = Assert.Throws<HeadMinerException>(() => ModelLoader.Load(dir.Path));
        Assert.StartsWith($"{dir.File("model.safetensors")}: tensor \"transformer.h.1.mlp.c_fc.weight\" is missing from the checkpoint", e.Message);
    }

    [Fact]
    public void ShapeMismatchNamesTensorFileExpectedAndActualShape()
    {
        using var dir = ConfigValidationTests.WithConfigValue("gpt2", "n_inner", "64");
        var e = Assert.Throws<HeadMinerException>(() => ModelLoader.Load(dir.Path));
        Assert.Equal($"{dir.File("model.safetensors")}: tensor \"transformer.h.0.mlp.c_fc.bias\" has shape [128], expected [64] from config.json", e.Message);
    }
}
