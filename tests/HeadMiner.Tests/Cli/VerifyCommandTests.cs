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
        // The needle's truth comes from the committed fixture (tests/fixtures/embedded/circuits.json, 32 pairs); at 12
        // pairs the command must find its strongest head again. The atlas, written by hand, labels that head and one
        // that neither takes part in the needle nor attends to it (so it is wrong): precision 1/2 by construction.
        using var fixture = JsonDocument.Parse(File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "tests", "fixtures", "embedded", "circuits.json")));
        var type = fixture.RootElement.GetProperty("types").GetProperty("retrieval");
        string[] Heads(string field) => [.. type.GetProperty(field).EnumerateArray().Select(h => h.GetString()!)];
        var effect = fixture.RootElement.GetProperty("tasks").GetProperty("needle").GetProperty("logits").GetProperty("effect");
        string strongest = Heads("truth").OrderByDescending(h => effect[h[1] - '0'][h[3] - '0'].GetDouble()).First();
        string wrong = Enumerable.Range(0, 4).SelectMany(l => Enumerable.Range(0, 4).Select(h => $"L{l}H{h}"))
            .First(h => !Heads("participants").Contains(h) && !Heads("role_heads").Contains(h));
        string atlas = dir.File("atlas.json");
        string Entry(string h) => $$"""{ "layer": {{h[1]}}, "head": {{h[3]}}, "labels": [ { "type": "retrieval" } ] }""";
        File.WriteAllText(atlas, $$"""{ "heads": [ {{Entry(strongest)}}, {{Entry(wrong)}} ] }""");
        var (code, output, err) = Run("verify", "-m", Model, "--tasks", "needle", "--count", "12", "--atlas", atlas, "-o", dir.File("out"));
        Assert.True(code == 0, err);
        using var truth = JsonDocument.Parse(File.ReadAllText(dir.File("out/truth.json")));
        var retrieval = truth.RootElement.GetProperty("types").GetProperty("retrieval");
        string[] found = [.. retrieval.GetProperty("truth").EnumerateArray().Select(h => h.GetString()!)];
        Assert.Contains(strongest, found);
        Assert.DoesNotContain(wrong, found);
        Assert.Equal(["needle"], truth.RootElement.GetProperty("tasks").EnumerateObject().Select(t => t.Name));
        double recall = 1.0 / found.Length;
        Assert.Contains($"retrieval            truth {{{string.Join(" ", found)}}}, atlas {{{strongest} {wrong}}}: precision 0.50, recall {recall:0.00}", output);
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
