using System.Text.Json;
using HeadMiner.Cli;
using HeadMiner.Models.Tokenizers;
using HeadMiner.Tasks;
using static HeadMiner.Tests.CliRunner;

namespace HeadMiner.Tests.Analysis;

/// <summary>`dla`, `logit-lens` and `ablate` end to end on the real stories260K model.</summary>
public class AttributionLensAblationCliTests
{
    private static string Model => TestPaths.SharedModel("stories260K");

    /// <summary>
    /// " Lily" and " Tim" are single tokens for tok512, so the prompts have equal length (15 tokens), and the model
    /// prefers " her" after Lily and " his" after Tim (checked by tokenizing below).
    /// </summary>
    private static string WritePairs(TestPaths.TempDirectory dir)
    {
        var set = new PromptPairSet
        {
            Task = "pronoun",
            Pairs =
            [
                new PromptPair("Lily saw a cat. Lily gave the cat to", "Tim saw a cat. Tim gave the cat to", " her", " his"),
                new PromptPair("Tim saw a cat. Tim gave the cat to", "Lily saw a cat. Lily gave the cat to", " his", " her"),
            ],
        };
        var tokenized = set.Tokenize(TokenizerLoader.Load(Model));
        Assert.Equal(15, tokenized.Length);
        Assert.Equal(tokenized.Answers[0], tokenized.Wrongs[1]);
        string path = dir.File("pairs.json");
        set.Save(path);
        return path;
    }

    [Fact]
    public void LogitLensJsonHasOneEntryPerLayerPlusTheFinalResidual()
    {
        var (code, output, err) = Run("logit-lens", "--model", Model, "--prompt", "Once upon a time", "--json", "--target", " there");
        Assert.True(code == 0, err);
        using var json = JsonDocument.Parse(output);
        var root = json.RootElement;
        var layers = root.GetProperty("layers");
        Assert.Equal(5 + 1, layers.GetArrayLength());
        Assert.Equal("final resid_post", layers[5].GetProperty("label").GetString());
        Assert.Equal("none", root.GetProperty("weight_processing").GetString());
        Assert.Equal("recomputed", root.GetProperty("norm").GetString());
        Assert.EndsWith("stories260K.bin", root.GetProperty("model").GetString());
        Assert.Equal(5, layers[0].GetProperty("top").GetArrayLength());
        Assert.True(layers[5].GetProperty("target_rank").GetInt32() >= 1);
    }

    [Fact]
    public void DlaWritesJsonAndHeadCsvWhoseTermsSumToTheLogitDifference()
    {
        using var dir = TestPaths.NewTempDirectory();
        string pairs = WritePairs(dir);
        string outDir = dir.File("out");
        var (code, output, err) = Run("dla", "--model", Model, "--pairs", pairs, "--neurons", "3", "--process", "--out", outDir);
        Assert.True(code == 0, err);
        Assert.Contains("top heads by |attribution|", output);
        var csv = File.ReadAllLines(Path.Combine(outDir, "dla_heads.csv"));
        Assert.Equal("layer,head,attribution", csv[0]);
        Assert.Equal(1 + 5 * 8, csv.Length);
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "dla.json")));
        var root = json.RootElement;
        Assert.Equal("fold_ln+center_unembed+fold_value_biases", root.GetProperty("weight_processing").GetString());
        Assert.True(root.GetProperty("sum_check").GetProperty("max_abs_gap").GetDouble() < 1e-3);
        var prompt = root.GetProperty("prompts")[0];
        Assert.Equal(" her", prompt.GetProperty("answer").GetProperty("token").GetString());
        Assert.True(prompt.GetProperty("logit_diff").GetDouble() > 0, "the model should prefer \" her\" after Lily");
        Assert.Equal(5, root.GetProperty("mean").GetProperty("top_neurons").GetArrayLength());
    }

    [Fact]
    public void AblateWritesOneRowPerHeadAndRejectsAnUnknownMetric()
    {
        using var dir = TestPaths.NewTempDirectory();
        string pairs = WritePairs(dir);
        var (code, _, err) = Run("ablate", "--model", Model, "--pairs", pairs, "--kind", "mean", "--metric", "prob_diff", "--out", dir.Path);
        Assert.True(code == 0, err);
        var csv = File.ReadAllLines(dir.File("ablation.csv"));
        Assert.Equal("layer,head,metric,delta,loss,delta_loss", csv[0]);
        Assert.Equal(1 + 40, csv.Length);
        using var json = JsonDocument.Parse(File.ReadAllText(dir.File("ablation.json")));
        Assert.Equal("none", json.RootElement.GetProperty("weight_processing").GetString());

        var (bad, _, badErr) = Run("ablate", "--model", Model, "--pairs", pairs, "--metric", "nonsense");
        Assert.NotEqual(0, bad);
        Assert.Contains("unknown metric \"nonsense\"", badErr);
        Assert.Single(badErr.Trim().Split('\n'));
    }

    [Fact]
    public void BadInputIsOneClearLine()
    {
        using var dir = TestPaths.NewTempDirectory();
        var (multi, _, multiErr) = Run("dla", "--model", Model, "--prompt", "Lily saw a cat", "--answer", " elephant", "-o", dir.Path);
        Assert.Equal(ExitCodes.Failure, multi);
        Assert.Contains("must be exactly one", multiErr);
        var (missing, _, missingErr) = Run("ablate", "--model", Model, "--pairs", dir.File("nope.json"), "-o", dir.Path);
        Assert.Equal(ExitCodes.Failure, missing);
        Assert.Contains("not found", missingErr);
        var (usage, _, usageErr) = Run("dla", "--model", Model);
        Assert.Equal(ExitCodes.Usage, usage);
        Assert.Contains("--pairs", usageErr);
        var (kind, _, _) = Run("ablate", "--model", Model, "--pairs", dir.File("nope.json"), "--kind", "sideways");
        Assert.Equal(ExitCodes.Usage, kind);
    }
}
