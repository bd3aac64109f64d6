using HeadMiner.Analysis.Detectors;

namespace HeadMiner.Tests.Analysis.Detectors;

public class AnalysisHintsTests
{
    [Fact]
    public void NoFileMeansNoHintsAndAWrittenFileReadsBack()
    {
        using var dir = TestPaths.NewTempDirectory();
        Assert.Null(AnalysisHints.Load(dir.Path, 50));
        var hints = new AnalysisHints([(3, 7), (11, 12)], "a note");
        File.WriteAllText(dir.File(AnalysisHints.FileName), hints.ToJson());
        var back = AnalysisHints.Load(dir.Path, 50)!;
        Assert.Equal(hints.PromptTokenRanges, back.PromptTokenRanges);
        Assert.Equal("a note", back.Note);
        Assert.Equal(new[] { 3, 4, 5, 6, 7, 11, 12 }, back.PromptTokens().Order());
        // A file path inside the directory finds the same hints (llama2.c models are files).
        Assert.NotNull(AnalysisHints.Load(dir.File("model.bin"), 50));
    }

    [Theory]
    [InlineData("{\"prompt_tokens\": [[3]]}", "must be [first, last]")]
    [InlineData("{\"prompt_tokens\": [[5, 60]]}", "range [5, 60] is not inside the vocabulary [0, 50)")]
    [InlineData("{\"prompt_tokens\": [[\"a\", 4]]}", "malformed analysis hints")]
    [InlineData("{\"prompt_tokens\": ", "malformed analysis hints")]
    public void ABadFileIsAnErrorNamingIt(string json, string message)
    {
        using var dir = TestPaths.NewTempDirectory();
        File.WriteAllText(dir.File(AnalysisHints.FileName), json);
        var e = Assert.Throws<HeadMinerException>(() => AnalysisHints.Load(dir.Path, 50));
        Assert.Contains(message, e.Message);
        Assert.Contains(AnalysisHints.FileName, e.Message);
    }

    [Fact]
    public void PromptTokensRestrictTheRandomPrompts()
    {
        using var loaded = HeadMiner.Models.ModelLoader.Load(Path.Combine(TestPaths.RepoRoot, "models", "embedded"));
        var pool = Enumerable.Range(40, 31).ToHashSet();
        var context = new DetectorContext(loaded.Model, loaded.Tokenizer, new DetectorOptions { PromptTokens = pool });
        var prompts = DetectorPrompts.Repeated(context, 5, 13, seed: 9);
        Assert.All(prompts, p =>
        {
            Assert.Equal(0, p[0]); // BOS
            Assert.All(p.Skip(1), id => Assert.Contains(id, pool));
        });
    }
}
