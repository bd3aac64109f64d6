using System.Text.Json;
using HeadMiner.Cli;
using HeadMiner.Models.Tokenizers;
using HeadMiner.Tasks;
using static HeadMiner.Tests.CliRunner;

namespace HeadMiner.Tests.Analysis;

/// <summary>`headminer path-patch` on the real stories260K model (5 layers × 8 heads, 4 k/v heads).</summary>
public class PathPatchCommandTests
{
    private static string ModelDir => TestPaths.SharedModel("stories260K");

    /// <summary>Two pairs that swap " cat" and " dog": equal token lengths (checked), answers single tokens in context.</summary>
    private static string WritePairs(TestPaths.TempDirectory dir)
    {
        var set = new PromptPairSet
        {
            Task = "test",
            Pairs =
            [
                new PromptPair("Lily saw a cat and", "Lily saw a dog and", " the", " she"),
                new PromptPair("Lily saw a dog and", "Lily saw a cat and", " she", " the"),
            ],
        };
        var tokenizer = TokenizerLoader.Load(ModelDir);
        foreach (var p in set.Pairs) Assert.Equal(tokenizer.Encode(p.Clean).Length, tokenizer.Encode(p.Corrupted).Length);
        var tokenized = set.Tokenize(tokenizer);
        Assert.NotEqual(tokenized.Answers[0], tokenized.Wrongs[0]);
        string path = dir.File("pairs.json");
        set.Save(path);
        return path;
    }

    [Fact]
    public void ASweepToTheLogitsWritesJsonAndCsvWithEverySender()
    {
        using var dir = TestPaths.NewTempDirectory();
        string pairs = WritePairs(dir);
        string outDir = dir.File("out");
        var (code, output, err) = Run("path-patch", "--pairs", pairs, "--model", ModelDir, "--receivers", "logits", "--out", outDir);
        Assert.True(code == 0, err);
        Assert.Contains("receivers: logits", output);
        Assert.Contains("logit_diff: clean", output);

        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "path_patching.json")));
        var root = json.RootElement;
        foreach (var key in new[] { "model", "weight_processing", "metric", "clean_metric", "corrupted_metric", "receivers", "senders", "normalized_matrix", "raw_matrix" })
            Assert.True(root.TryGetProperty(key, out _), $"path_patching.json lacks \"{key}\"");
        Assert.Equal("none", root.GetProperty("weight_processing").GetString());
        Assert.Equal("logit_diff", root.GetProperty("metric").GetString());
        Assert.Equal(5 * 8, root.GetProperty("senders").GetArrayLength());
        Assert.Equal(5, root.GetProperty("normalized_matrix").GetArrayLength());
        Assert.Equal(8, root.GetProperty("normalized_matrix")[0].GetArrayLength());
        double clean = root.GetProperty("clean_metric").GetDouble(), corrupted = root.GetProperty("corrupted_metric").GetDouble();
        Assert.NotEqual(clean, corrupted);
        var first = root.GetProperty("senders")[0];
        double raw = first.GetProperty("raw").GetDouble();
        Assert.Equal((raw - corrupted) / (clean - corrupted), first.GetProperty("normalized").GetDouble(), 9);

        var csv = File.ReadAllLines(Path.Combine(outDir, "path_patching.csv"));
        Assert.Equal("layer,head,raw,normalized", csv[0]);
        Assert.Equal(1 + 5 * 8, csv.Length);
    }

    [Fact]
    public void OneSenderToGroupedKeyInputsNamesTheQueryHeadsTheyFeed()
    {
        using var dir = TestPaths.NewTempDirectory();
        string pairs = WritePairs(dir);
        var (code, output, err) = Run("path-patch", "--pairs", pairs, "--model", ModelDir, "--receivers", "3.1:k,3.0:q", "--sender", "1.3", "--metric", "prob_diff", "--out", dir.Path);
        Assert.True(code == 0, err);
        Assert.Contains("3.1:k (k/v head 0, feeds query heads 0,1)", output);
        using var json = JsonDocument.Parse(File.ReadAllText(dir.File("path_patching.json")));
        var senders = json.RootElement.GetProperty("senders");
        Assert.Equal(1, senders.GetArrayLength());
        Assert.Equal(1, senders[0].GetProperty("layer").GetInt32());
        Assert.Equal(3, senders[0].GetProperty("head").GetInt32());
        var receiver = json.RootElement.GetProperty("receivers")[0];
        Assert.Equal(0, receiver.GetProperty("site_head").GetInt32());
        Assert.Equal("[0,1]", receiver.GetProperty("feeds_query_heads").GetRawText().Replace(" ", "").Replace("\n", "").Replace("\r", ""));
        // Senders that cannot reach the receivers are null in the matrix.
        Assert.Equal(JsonValueKind.Null, json.RootElement.GetProperty("normalized_matrix")[4][0].ValueKind);
    }

    [Fact]
    public void TheLogitsAndTheLastMlpTogetherReachEveryHead()
    {
        using var dir = TestPaths.NewTempDirectory();
        string pairs = WritePairs(dir);
        var (code, output, err) = Run("path-patch", "--pairs", pairs, "--model", ModelDir, "--receivers", "logits,mlp4", "--out", dir.Path);
        Assert.True(code == 0, err);
        Assert.Contains("receivers: logits (direct path), mlp4 (MLP input)", output);
        using var json = JsonDocument.Parse(File.ReadAllText(dir.File("path_patching.json")));
        var receivers = json.RootElement.GetProperty("receivers");
        Assert.Equal(2, receivers.GetArrayLength());
        Assert.Equal("logits", receivers[0].GetProperty("receiver").GetString());
        Assert.Equal("mlp4", receivers[1].GetProperty("receiver").GetString());
        Assert.Equal(4, receivers[1].GetProperty("layer").GetInt32());
        // Sequential blocks: the last layer's heads reach the last MLP too, so every head has a value.
        Assert.Equal(5 * 8, json.RootElement.GetProperty("senders").GetArrayLength());
        Assert.Equal(JsonValueKind.Number, json.RootElement.GetProperty("normalized_matrix")[4][7].ValueKind);
    }

    [Fact]
    public void AnMlpBelowTheSenderIsAUsageError()
    {
        using var dir = TestPaths.NewTempDirectory();
        string pairs = WritePairs(dir);
        var (code, _, err) = Run("path-patch", "--pairs", pairs, "--model", ModelDir, "--receivers", "mlp2", "--sender", "3.0", "--out", dir.Path);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("cannot reach receiver mlp2", err);
    }

    [Theory]
    [InlineData("mlp7", "5 layers")]
    [InlineData("12.3:q", "5 layers")]
    [InlineData("x.y", "bad receiver")]
    [InlineData("1.0:w", "not an input")]
    public void BadReceiversAreUsageErrors(string receivers, string expected)
    {
        using var dir = TestPaths.NewTempDirectory();
        string pairs = WritePairs(dir);
        var (code, _, err) = Run("path-patch", "--pairs", pairs, "--model", ModelDir, "--receivers", receivers, "--out", dir.Path);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains(expected, err);
        Assert.False(File.Exists(dir.File("path_patching.json")));
    }

    [Fact]
    public void ASenderAtOrAfterItsReceiversIsAUsageError()
    {
        using var dir = TestPaths.NewTempDirectory();
        string pairs = WritePairs(dir);
        var (code, _, err) = Run("path-patch", "--pairs", pairs, "--model", ModelDir, "--receivers", "2.0:q", "--sender", "2.1", "--out", dir.Path);
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains("cannot reach", err);
    }
}
