using System.Text.Json;
using static HeadMiner.Tests.CliRunner;

namespace HeadMiner.Tests.Cli;

/// <summary>`headminer detect` end to end on stories260K (runnable, with tokenizer).</summary>
public class DetectCommandTests
{
    private static string Model => TestPaths.SharedModel("stories260K");

    [Fact]
    public void JsonListsScoresAndTopHeadsPerDetector()
    {
        var (code, output, err) = Run("detect", "--model", Model, "--detectors", "previous_token,k_composition", "--prompts", "3", "--top", "2", "--json");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(output);
        var detectors = doc.RootElement.GetProperty("detectors");
        Assert.Equal(["previous_token", "k_composition"], detectors.EnumerateArray().Select(d => d.GetProperty("id").GetString()));
        foreach (var d in detectors.EnumerateArray())
        {
            Assert.Equal(JsonValueKind.Null, d.GetProperty("skipped").ValueKind);
            Assert.Equal(5, d.GetProperty("scores").GetArrayLength());
            Assert.Equal(8, d.GetProperty("scores")[0].GetArrayLength());
            var top = d.GetProperty("top");
            Assert.Equal(2, top.GetArrayLength());
            Assert.True(top[0].GetProperty("score").GetSingle() >= top[1].GetProperty("score").GetSingle());
        }
        // Layer-0 heads cannot K-compose: null in the matrix of scores.
        Assert.Equal(JsonValueKind.Null, detectors[1].GetProperty("scores")[0][0].ValueKind);
        Assert.Equal([5, 8, 5, 8], detectors[1].GetProperty("matrices").GetProperty("k_composition").EnumerateArray().Select(x => x.GetInt32()));
    }

    [Fact]
    public void TableSaysWhyADetectorIsSkipped()
    {
        var (code, output, err) = Run("detect", "--model", TestPaths.SharedModel("gpt2-small-attention-only"), "--weights-only", "--detectors", "induction,ov_copying");
        Assert.True(code == 0, err);
        Assert.Contains("induction: skipped: needs a forward pass", output);
        Assert.Contains("ov_copying: skipped: needs the token embedding W_E", output);
    }

    [Fact]
    public void UnknownDetectorIsAUsageError()
    {
        var (code, _, err) = Run("detect", "--model", Model, "--detectors", "inductoin");
        Assert.Equal(2, code);
        Assert.Contains("unknown detector \"inductoin\"", err);
        Assert.DoesNotContain("   at ", err);
    }
}
