using FsCheck.Xunit;
using HeadMiner.Models;

namespace HeadMiner.Tests.Models;

/// <summary>
/// Property: whatever is wrong with a model's config — a config.json of any architecture family with keys deleted,
/// types changed, numbers out of range or huge, NaN-ish strings, truncated or replaced by random bytes; a llama2.c
/// header with any of its seven int32 fields changed — `headminer info` ends in exit 0 with a model whose logits are
/// finite, or exit 1/2 with exactly one `error:` line that names the model and is not an internal error. Never a
/// hang (a watchdog per case), never a silent bad model. Fixed FsCheck seeds make every run the same cases.
/// </summary>
public class ConfigRobustnessProperties
{
    /// <summary>Generous: a case takes milliseconds; this only turns a hang into a failure instead of a stuck run.</summary>
    private static readonly TimeSpan HangLimit = TimeSpan.FromSeconds(60);

    [Property(MaxTest = 150, Replay = "(20261201,1234567)", Arbitrary = [typeof(ConfigMutations)], QuietOnSuccess = true)]
    public void MutatedConfigJsonLoadsCleanlyOrFailsWithOneClearError(ConfigMutation mutation)
    {
        using var dir = TestPaths.NewTempDirectory();
        // The checkpoint is linked, not copied, as the Hugging Face cache does: cheap, and it exercises link following.
        File.CreateSymbolicLink(dir.File("model.safetensors"), Path.Combine(TestPaths.Fixture("parity", mutation.Family), "model.safetensors"));
        File.WriteAllBytes(dir.File("config.json"), mutation.Bytes);
        AssertCleanOutcome(dir.Path, dir.Path, mutation.ToString());
    }

    [Property(MaxTest = 60, Replay = "(20261202,7654321)", Arbitrary = [typeof(ConfigMutations)], QuietOnSuccess = true)]
    public void MutatedLlama2cHeaderLoadsCleanlyOrFailsWithOneClearError(HeaderMutation mutation)
    {
        using var dir = TestPaths.NewTempDirectory();
        string file = dir.File("model.bin");
        File.WriteAllBytes(file, mutation.Apply(File.ReadAllBytes(Stories)));
        AssertCleanOutcome(file, file, mutation.ToString());
    }

    internal static string Stories => TestPaths.SharedFile("models/stories260K/stories260K.bin");

    private static void AssertCleanOutcome(string modelPath, string mustName, string description)
    {
        (int Code, string Out, string Err) result = (-1, "", "");
        var worker = new Thread(() => result = CliRunner.Run("info", "-m", modelPath)) { IsBackground = true };
        worker.Start();
        Assert.True(worker.Join(HangLimit), $"`info` did not finish within {HangLimit} for {description}");

        var (code, stdout, stderr) = result;
        if (code == 0)
        {
            Assert.True(stderr.Length == 0, $"exit 0 but stderr for {description}: {stderr}");
            Assert.Contains("architecture", stdout);
            // "Genuinely fine": the model runs and its logits are finite (no negative epsilon slipping through).
            using var loaded = ModelLoader.Load(modelPath);
            // Three tokens, or as many as a mutated context length or vocabulary allows (still a valid prompt).
            var c = loaded.Model.Config;
            int[] tokens = Enumerable.Range(0, Math.Min(3, c.ContextLength)).Select(i => i % c.VocabSize).ToArray();
            var logits = loaded.Model.Forward(tokens);
            Assert.True(logits.Span.ToArray().All(float.IsFinite), $"non-finite logits after a clean load of {description}");
            return;
        }
        Assert.True(code is 1 or 2, $"exit code {code} for {description}: {stderr}");
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"{lines.Length} stderr lines for {description}:\n{stderr}");
        Assert.StartsWith("error: ", lines[0]);
        Assert.DoesNotContain("internal error", stderr);
        Assert.True(lines[0].Contains(mustName, StringComparison.Ordinal), $"the error does not name {mustName} for {description}: {lines[0]}");
    }
}
