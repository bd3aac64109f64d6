using System.Text.Json;
using static HeadMiner.Tests.CliRunner;

namespace HeadMiner.Tests.Cli;

/// <summary>
/// `headminer verify`: the path-patching ground truth of the embedded model's needle heads, and an atlas scored against
/// it. The atlas here is written by hand so that the expected precision and recall follow from the truth alone.
/// </summary>
public class VerifyCommandTests
{
    private static readonly string Model = Path.Combine(TestPaths.RepoRoot, "models", "embedded");

    [Fact]
    public void ScoresAnAtlasAgainstTheGroundTruthAndWritesIt()
    {
        using var dir = TestPaths.NewTempDirectory();
        // The needle is carried by L2H0–L2H2 (≥ 10% each) with L2H3 taking part (tests/fixtures/embedded/circuits.json);
        // L0H1 neither carries nor attends to the needle. Labels: L2H0 and L0H1 retrieval, nothing else.
        string atlas = dir.File("atlas.json");
        File.WriteAllText(atlas, """
            { "heads": [
              { "layer": 0, "head": 1, "labels": [ { "type": "retrieval" } ] },
              { "layer": 2, "head": 0, "labels": [ { "type": "retrieval" } ] },
              { "layer": 2, "head": 1, "labels": [] } ] }
            """);
        var (code, output, err) = Run("verify", "-m", Model, "--tasks", "needle", "--count", "12", "--atlas", atlas, "-o", dir.File("out"));
        Assert.True(code == 0, err);
        using var truth = JsonDocument.Parse(File.ReadAllText(dir.File("out/truth.json")));
        var retrieval = truth.RootElement.GetProperty("types").GetProperty("retrieval");
        string[] found = [.. retrieval.GetProperty("truth").EnumerateArray().Select(h => h.GetString()!)];
        Assert.Contains("L2H0", found);
        Assert.DoesNotContain("L0H1", found);
        Assert.Equal(["needle"], truth.RootElement.GetProperty("tasks").EnumerateObject().Select(t => t.Name));
        // One of two labels is right (L2H0); L2H0 is one of the truth's heads.
        double recall = 1.0 / found.Length;
        Assert.Contains($"retrieval            truth {{{string.Join(" ", found)}}}, atlas {{L0H1 L2H0}}: precision 0.50, recall {recall:0.00}", output);
        Assert.Contains("wrote ", output);
    }

    /// <summary>
    /// A SentencePiece model (stories260K, llama2.c): the sets its vocabulary cannot spell are named and left out, the
    /// others are measured with answers tokenized in context (" 5" alone is two pieces there), and a tiny story model
    /// has learned neither IOI nor successor lists, so no type has a truth.
    /// </summary>
    [Fact]
    public void ASentencePieceModelIsMeasuredOnTheSetsItCanSpell()
    {
        using var dir = TestPaths.NewTempDirectory();
        var (code, output, err) = Run("verify", "-m", TestPaths.SharedModel("stories260K"), "--count", "8", "-o", dir.File("out"));
        Assert.True(code == 0, err);
        Assert.Contains("note: the vocabulary cannot build ", err);
        Assert.Contains("ioi: logit_diff clean ", output);
        Assert.Contains("— not learned", output);
        using var truth = JsonDocument.Parse(File.ReadAllText(dir.File("out/truth.json")));
        Assert.All(truth.RootElement.GetProperty("types").EnumerateObject(), t => Assert.Empty(t.Value.GetProperty("truth").EnumerateArray()));
    }

    [Fact]
    public void AnUnknownTaskOrABadAtlasIsOneErrorNamingIt()
    {
        using var dir = TestPaths.NewTempDirectory();
        var (code, _, err) = Run("verify", "-m", Model, "--tasks", "needle,induction", "-o", dir.File("out"));
        Assert.NotEqual(0, code);
        Assert.Contains("--tasks: \"induction\" has no head type to verify", err);
        Assert.DoesNotContain("   at ", err);

        File.WriteAllText(dir.File("bad.json"), "{ \"detectors\": [] }");
        (code, _, err) = Run("verify", "-m", Model, "--tasks", "needle", "--atlas", dir.File("bad.json"), "-o", dir.File("out2"));
        Assert.NotEqual(0, code);
        Assert.Contains($"--atlas: {dir.File("bad.json")} is not an atlas.json", err);
        Assert.DoesNotContain("   at ", err);
    }
}
