using HeadMiner.Analysis.Atlas;
using static HeadMiner.Tests.CliRunner;

namespace HeadMiner.Tests.Cli;

public class AtlasCommandTests
{
    [Fact]
    public void AtlasOnTheDefaultModelPrintsTheTableAndWritesJsonAndHtml()
    {
        using var dir = TestPaths.NewTempDirectory();
        var (code, output, err) = Run("atlas", "-o", dir.Path);
        Assert.True(code == 0, err);
        Assert.Contains("models/embedded", output);
        Assert.Matches(@"L0H\d\s+previous_token\s+ICI", output);
        Assert.Matches(@"L[12]H\d\s+induction\s+LR\s+[0-9.]+\s+\[[0-9.]+, [0-9.]+\]\s+(<0\.001|[0-9.]+|—)\s+\+\d", output);
        // Per label: its own alone effect, percentile among random heads, the ablation, and the grade.
        Assert.Matches(@"L2H\d\s+induction\s+LR\s+[0-9.]+\s+\[[0-9.]+, [0-9.]+\]\s+(<0\.001|[0-9.]+|—)\s+\+\d+\.\d{3} \(p\d+, (zero|mean|resample)\) causally_confirmed", output);
        Assert.Matches(@"L2H\d\s+induction\s+LR\s+[0-9.]+\s+\[[0-9.]+, [0-9.]+\]\s+(<0\.001|[0-9.]+|—)\s+[+-]?\d+\.\d{3} \(p\d+, (zero|mean|resample)\) pattern_only", output);
        Assert.Matches(@"L2H\d\s+attention_sink\s+ICI\s+[0-9.]+\s+\[[0-9.]+, [0-9.]+\]\s+(<0\.001|[0-9.]+|—)\s+— \(no task metric\)", output);
        Assert.Matches(@"\[3/\d+\] induction: causal check", err);
        var atlas = AtlasReport.Read(dir.File("atlas.json"));
        Assert.Equal(4, atlas.Model.Layers);
        // The toy English spells every detector's prompts and has words in pieces (issue 14): every detector runs.
        Assert.Contains("21 detectors ran", err + output);
        Assert.DoesNotContain(output.Split('\n'), l => l.StartsWith("skipped", StringComparison.Ordinal));
        Assert.Single(atlas.Notes);
        // Thresholds are floats: written in their shortest form (0.1), not widened to 0.10000000149011612.
        using (var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(dir.File("atlas.json"))))
            foreach (var d in json.RootElement.GetProperty("detectors").EnumerateArray())
                if (d.GetProperty("threshold").ValueKind == System.Text.Json.JsonValueKind.Number)
                    Assert.Matches(@"^-?[0-9]+(\.[0-9]{1,8})?(E[-+]?[0-9]+)?$", d.GetProperty("threshold").GetRawText());
        string html = File.ReadAllText(dir.File("atlas.html"));
        Assert.Contains("Four-stage map", html);
        Assert.DoesNotContain("<script src", html);
    }

    [Fact]
    public void WeightsOnlyGpt2SmallPrintsTheInductionCircuitsKComposition()
    {
        using var dir = TestPaths.NewTempDirectory();
        var (code, output, err) = Run("atlas", "-m", TestPaths.SharedModel("gpt2-small-attention-only"), "--weights-only", "-o", dir.Path);
        Assert.True(code == 0, err);
        // Previous-token head 4.11 feeding the keys of induction heads 5.1 and 6.9 (Olsson et al.; Wang et al.).
        string k = output.Split('\n').Single(l => l.TrimStart().StartsWith("K: ", StringComparison.Ordinal));
        Assert.Contains("L4H11 → L5H1", k);
        Assert.Contains("L4H11 → L6H9", k);
        Assert.Contains("skipped induction: needs a forward pass", output);
        Assert.Contains("Strongest composition between heads", File.ReadAllText(dir.File("atlas.html")));
    }

    [Fact]
    public void BadOptionsAreUsageErrors()
    {
        var (code, _, err) = Run("atlas", "--detectors", "nope");
        Assert.Equal(HeadMiner.Cli.ExitCodes.Usage, code);
        Assert.Contains("unknown detector \"nope\"", err);
        (code, _, err) = Run("atlas", "--causal-heads", "0");
        Assert.Equal(HeadMiner.Cli.ExitCodes.Usage, code);
        Assert.Contains("causal heads 0", err);
        (code, _, err) = Run("atlas", "--causal-random-heads", "0");
        Assert.Equal(HeadMiner.Cli.ExitCodes.Usage, code);
        Assert.Contains("random heads 0", err);
    }
}
