using System.Text.Json;
using HeadMiner.Cli;
using static HeadMiner.Tests.CliRunner;

namespace HeadMiner.Tests.Cli;

public class AttribPatchCommandTests
{
    private const string Pairs = """
        {"version": 1, "task": "demo", "pairs": [
         {"clean": "Lily was happy. Lily was", "corrupted": "Lily was little. Lily was", "answer": " happy", "wrong": " little"},
         {"clean": "Lily was big. Lily was", "corrupted": "Lily was happy. Lily was", "answer": " big", "wrong": " happy"}]}
        """;

    [Fact]
    public void AttribPatchWritesNodesEdgesAndTheComparisonForTheRealModel()
    {
        using var dir = TestPaths.NewTempDirectory();
        File.WriteAllText(dir.File("pairs.json"), Pairs);
        var (code, output, err) = Run("attrib-patch", "-m", TestPaths.SharedModel("stories260K"), "--pairs", dir.File("pairs.json"), "--edges", "--compare", "-o", dir.Path);
        Assert.True(code == 0, err);
        Assert.Contains("strongest edges", output);
        Assert.Contains("Pearson r", output);
        using var json = JsonDocument.Parse(File.ReadAllText(dir.File("attrib_patching.json")));
        var root = json.RootElement;
        Assert.Equal(new[] { 5, 8, 7 }, root.GetProperty("head_shape").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(280, root.GetProperty("heads_normalized").GetArrayLength());
        Assert.Equal(35, root.GetProperty("mlp_normalized").GetArrayLength());
        double r = root.GetProperty("comparison").GetProperty("pearson_heads").GetDouble();
        Assert.InRange(r, -1, 1);
        Assert.Equal(1 + 280 + 35, File.ReadAllLines(dir.File("attrib_patching.csv")).Length);
        var edges = File.ReadAllLines(dir.File("attrib_edges.csv"));
        Assert.StartsWith("rank,sender,receiver", edges[0]);
        Assert.True(edges.Length > 100);
    }

    [Theory]
    [InlineData("--shard-pairs", "0", "--shard-pairs must be at least 1, not 0")]
    [InlineData("--compare", "--cluster", "--compare runs the exact sweeps in this process; it does not combine with --cluster")]
    public void ShardAndClusterMisuseIsAUsageErrorBeforeAnyWork(string option, string value, string expected)
    {
        using var dir = TestPaths.NewTempDirectory();
        File.WriteAllText(dir.File("pairs.json"), Pairs);
        // --cluster names a file that does not exist: the usage error must come before the config is read.
        string[] extra = option == "--compare" ? [option, value, dir.File("no-such-cluster.json")] : [option, value];
        var (code, _, err) = Run(["attrib-patch", "-m", TestPaths.SharedModel("stories260K"), "--pairs", dir.File("pairs.json"), "-o", dir.File("out"), .. extra]);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains(expected, err);
        Assert.False(File.Exists(dir.File(Path.Combine("out", "attrib_patching.json"))));
    }

    [Fact]
    public void LossMetricIsAUsageErrorAndWritesNothing()
    {
        using var dir = TestPaths.NewTempDirectory();
        File.WriteAllText(dir.File("pairs.json"), Pairs);
        var (code, _, err) = Run("attrib-patch", "-m", TestPaths.SharedModel("stories260K"), "--pairs", dir.File("pairs.json"), "--metric", "loss", "-o", dir.Path);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("logit_diff, prob_diff or kl", err);
        Assert.False(File.Exists(dir.File("attrib_patching.json")));
    }
}
