using System.Text.Json;
using HeadMiner.Cli;
using HeadMiner.Tests.Models;
using static HeadMiner.Tests.CliRunner;

namespace HeadMiner.Tests.Cli;

/// <summary>
/// Issue 12: a model with one NaN weight ends every command in one clear error naming the first hook point and the
/// weight, before long work (nothing half-written); a prompt set whose clean and corrupted runs agree gives a warning
/// and nulls, not NaN or a crash.
/// </summary>
public sealed class NonFiniteCommandTests : IDisposable
{
    // The embedded model's words; the answers are single tokens.
    private const string ToyPairs = """
        {"version": 1, "task": "toy", "pairs": [
         {"clean": "w3 w17 w40 w9 w3 w17", "corrupted": "w5 w22 w61 w9 w5 w22", "answer": " w40", "wrong": " w61"}]}
        """;

    private readonly TestPaths.TempDirectory _dir = TestPaths.NewTempDirectory();
    private readonly string _model;

    public NonFiniteCommandTests()
    {
        // c_attn's first weight feeds query feature 0 of layer 1's head 0: the NaN first shows at blocks.1.attn.hook_q.
        _model = PoisonedModel.Copy(Path.Combine(TestPaths.RepoRoot, "models", "embedded"), _dir.File("poisoned"), "transformer.h.1.attn.c_attn.weight", 0);
        File.WriteAllText(_dir.File("pairs.json"), ToyPairs);
    }

    public void Dispose() => _dir.Dispose();

    public static TheoryData<string> Commands => new() { "logits", "generate", "detect", "atlas", "patch", "path-patch", "logit-lens", "dla", "ablate", "attrib-patch", "cache" };

    [Theory]
    [MemberData(nameof(Commands))]
    public void ANaNWeightIsOneErrorNamingTheFirstHookPointAndTheWeight(string command)
    {
        string outDir = _dir.File("out-" + command);
        string[] args = command switch
        {
            "logits" or "generate" => [command, "-m", _model, "-p", "w3 w17 w40"],
            "logit-lens" => [command, "-m", _model, "-p", "w3 w17 w40"],
            "detect" => [command, "-m", _model],
            "cache" => [command, "-m", _model, "-p", "w3 w17 w40", "-o", Path.Combine(outDir, "cache.safetensors")],
            "atlas" => [command, "-m", _model, "-o", outDir],
            "patch" => [command, "-m", _model, "--pairs", _dir.File("pairs.json"), "--target", "z", "-o", outDir],
            "dla" or "ablate" or "attrib-patch" => [command, "-m", _model, "--pairs", _dir.File("pairs.json"), "-o", outDir],
            _ => [command, "-m", _model, "--pairs", _dir.File("pairs.json"), "-r", "logits", "-o", outDir],
        };
        var (code, output, err) = Run(args);
        Assert.Equal(ExitCodes.Failure, code);
        var lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        string error = Assert.Single(lines, l => l.StartsWith("error: ", StringComparison.Ordinal));
        Assert.Contains("non-finite values (NaN/±∞) — first at blocks.1.attn.hook_q (layer 1", error);
        Assert.Contains("blocks.1.attn.W_Q (1 of", error);
        Assert.DoesNotContain("internal error", err);
        Assert.DoesNotContain("NaN\n", output);
        // Nothing half-done is left behind.
        Assert.False(Directory.Exists(outDir) && Directory.EnumerateFiles(outDir).Any(), $"{command} wrote files");
    }

    [Fact]
    public void PatchingPairsWhoseCleanAndCorruptedRunsAgreeWarnsNamingThePairAndWritesNulls()
    {
        File.WriteAllText(_dir.File("same.json"), """
            {"version": 1, "task": "toy", "pairs": [
             {"clean": "w3 w17 w40 w9 w3 w17", "corrupted": "w3 w17 w40 w9 w3 w17", "answer": " w40", "wrong": " w61"}]}
            """);
        var (code, output, err) = Run("patch", "--pairs", _dir.File("same.json"), "--target", "z", "-o", _dir.Path);
        Assert.True(code == 0, err);
        Assert.Contains("warning: logit_diff clean − corrupted = 0 (clean ", err);
        Assert.Contains("pair(s) whose clean and corrupted runs give the same logit_diff: 0.", err);
        Assert.Contains("non-finite value(s) written as null ($.normalized[0] = NaN", err);
        Assert.DoesNotContain("NaN", output);
        using var json = JsonDocument.Parse(File.ReadAllText(_dir.File("patching.json")));
        var root = json.RootElement;
        Assert.True(root.GetProperty("normalization_undefined").GetBoolean());
        Assert.Equal([0], root.GetProperty("degenerate_pairs").EnumerateArray().Select(e => e.GetInt32()));
        Assert.All(root.GetProperty("normalized").EnumerateArray(), e => Assert.Equal(JsonValueKind.Null, e.ValueKind));
        Assert.All(root.GetProperty("raw").EnumerateArray(), e => Assert.Equal(JsonValueKind.Number, e.ValueKind));
        Assert.Equal(root.GetProperty("normalized").GetArrayLength(), root.GetProperty("non_finite").GetProperty("count").GetInt32());
        // The CSV leaves the undefined cells empty.
        Assert.All(File.ReadAllLines(_dir.File("patching.csv")).Skip(1), line => Assert.EndsWith(",", line));
    }

    [Fact]
    public void PathPatchingPairsWhoseRunsAgreePrintsNotApplicableInsteadOfNaN()
    {
        File.WriteAllText(_dir.File("same.json"), """
            {"version": 1, "task": "toy", "pairs": [
             {"clean": "w3 w17 w40 w9 w3 w17", "corrupted": "w3 w17 w40 w9 w3 w17", "answer": " w40", "wrong": " w61"}]}
            """);
        var (code, output, err) = Run("path-patch", "--pairs", _dir.File("same.json"), "-r", "logits", "-o", _dir.Path, "--top", "3");
        Assert.True(code == 0, err);
        Assert.Contains("warning: logit_diff clean − corrupted = 0", err);
        Assert.DoesNotContain("NaN", output);
        Assert.Contains("n/a", output);
        using var json = JsonDocument.Parse(File.ReadAllText(_dir.File("path_patching.json")));
        Assert.True(json.RootElement.GetProperty("normalization_undefined").GetBoolean());
        Assert.All(json.RootElement.GetProperty("senders").EnumerateArray(), s => Assert.Equal(JsonValueKind.Null, s.GetProperty("normalized").ValueKind));
    }

    [Fact]
    public void PairsThatDifferGiveNoWarning()
    {
        var (code, _, err) = Run("patch", "--pairs", _dir.File("pairs.json"), "--target", "z", "-o", _dir.Path);
        Assert.True(code == 0, err);
        Assert.DoesNotContain("warning", err);
        Assert.DoesNotContain("non-finite", err);
        using var json = JsonDocument.Parse(File.ReadAllText(_dir.File("patching.json")));
        Assert.False(json.RootElement.GetProperty("normalization_undefined").GetBoolean());
        Assert.False(json.RootElement.TryGetProperty("non_finite", out _));
    }
}
