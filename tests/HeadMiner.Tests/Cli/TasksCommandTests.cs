using HeadMiner.Cli;
using HeadMiner.Tasks;
using HeadMiner.Tasks.Sets;
using static HeadMiner.Tests.CliRunner;

namespace HeadMiner.Tests.Cli;

public class TasksCommandTests
{
    [Fact]
    public void GenerateWritesAPromptPairFileThatLoads()
    {
        using var dir = TestPaths.NewTempDirectory();
        var (code, output, err) = Run("tasks", "generate", "ioi", "--count", "5", "--seed", "9", "-m", TestPaths.SharedModel("gpt2-small-attention-only"), "-o", dir.File("ioi.json"));
        Assert.True(code == 0, err);
        Assert.Contains("wrote 5 ioi pairs", output);
        var set = PromptPairSet.Load(dir.File("ioi.json"));
        Assert.Equal(5, set.Pairs.Count);
        Assert.All(set.Pairs, p => Assert.Equal(5, p.Positions!.Count));
    }

    [Fact]
    public void IoiBuildsForStories260KFromTheNamesItsVocabularyKeeps()
    {
        using var dir = TestPaths.NewTempDirectory();
        var (code, output, err) = Run("tasks", "generate", "ioi", "-m", TestPaths.SharedModel("stories260K"), "--count", "8", "-o", dir.File("x.json"));
        Assert.True(code == 0, err);
        Assert.Contains("wrote 8 ioi pairs", output);
        var set = PromptPairSet.Load(dir.File("x.json"));
        Assert.Equal(8, set.Pairs.Count);
        Assert.All(set.Pairs, p => Assert.Contains(p.Answer.Trim(), new[] { "Lily", "Tim", "Timmy" }));
    }

    [Fact]
    public void ASetTheTokenizerCannotCarryFailsWithTheReasonAndWritesNothing()
    {
        using var dir = TestPaths.NewTempDirectory();
        var (code, _, err) = Run("tasks", "generate", "mcqa", "-m", Path.Combine(TestPaths.SharedModel("stories260K"), "stories260K.bin"), "-o", dir.File("mcqa.json"));
        Assert.Equal(ExitCodes.Failure, code);
        Assert.Contains("mcqa needs 4 single-token answer letters; found 1 in this vocabulary: B", err);
        Assert.False(File.Exists(dir.File("mcqa.json")));
    }

    [Fact]
    public void UnknownSetIsAUsageErrorNamingTheKnownOnes()
    {
        var (code, _, err) = Run("tasks", "generate", "nope", "-m", TestPaths.SharedModel("gpt2-small-attention-only"), "-o", "unused.json");
        Assert.Equal(ExitCodes.Usage, code);
        Assert.Contains(string.Join(", ", TaskSets.All.Select(g => g.Name)), err);
    }

    [Fact]
    public void ListNamesEverySetAndWithAModelSaysWhichCanBeBuilt()
    {
        var (code, output, err) = Run("tasks", "list", "-m", Path.Combine(TestPaths.SharedModel("stories260K"), "stories260K.bin"));
        Assert.True(code == 0, err);
        Assert.All(TaskSets.All, g => Assert.Contains(g.Name + " ", output));
        Assert.Contains("cannot be built: greater_than needs the 100 two-digit years", output);
        Assert.Contains("buildable for this model", output);
    }

    [Fact]
    public void RepeatedTokensDrawFromThePromptVocabularyAModelDeclares()
    {
        // The embedded model's headminer.json keeps random-token prompts to its words w0…w191 (ids 4–195), as the
        // detectors' prompts are; without it the set would find no lowercase words in this vocabulary.
        using var dir = TestPaths.NewTempDirectory();
        string model = Path.Combine(TestPaths.RepoRoot, "models", "embedded");
        var (code, _, err) = Run("tasks", "generate", "repeated_tokens", "-m", model, "--count", "6", "--seed", "3", "-o", dir.File("rt.json"));
        Assert.True(code == 0, err);
        using var loaded = HeadMiner.Models.ModelLoader.Load(model);
        var tokens = PromptPairSet.Load(dir.File("rt.json")).Tokenize(loaded.Tokenizer!, "rt.json");
        var ids = tokens.Clean.Concat(tokens.Corrupted).SelectMany(p => p).Where(id => id != loaded.Tokenizer!.BosId).ToArray();
        Assert.NotEmpty(ids);
        Assert.All(ids, id => Assert.InRange(id, 4, 195));
        Assert.True(ids.Distinct().Count() > 40, "the draws spread over the declared words");
    }
}
