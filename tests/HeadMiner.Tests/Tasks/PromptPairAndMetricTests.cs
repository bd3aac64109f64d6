using HeadMiner.Models.Tokenizers;
using HeadMiner.Tasks;
using HeadMiner.Tensors;

namespace HeadMiner.Tests.Tasks;

public class PromptPairAndMetricTests
{
    private static ITokenizer Tokenizer => TokenizerLoader.Load(TestPaths.SharedModel("stories260K"));

    private static PromptPairSet Set(params PromptPair[] pairs) => new() { Task = "test", Pairs = pairs };

    [Fact]
    public void SavesAndLoadsTheDocumentedFormat()
    {
        using var dir = TestPaths.NewTempDirectory();
        var set = Set(new PromptPair("Lily saw a cat", "Lily saw a dog", " and", " was"));
        set.Save(dir.File("pairs.json"));
        string text = File.ReadAllText(dir.File("pairs.json"));
        Assert.Contains("\"clean\": \"Lily saw a cat\"", text);
        Assert.Contains("\"version\": 1", text);
        var loaded = PromptPairSet.Load(dir.File("pairs.json"));
        Assert.Equal(set.Pairs, loaded.Pairs);
    }

    [Fact]
    public void BadFilesGetOneClearMessage()
    {
        using var dir = TestPaths.NewTempDirectory();
        File.WriteAllText(dir.File("a.json"), "{\"version\": 1, \"pairs\": [{\"clean\": \"x\"}]}");
        Assert.Contains("pair 0 lacks", Assert.Throws<HeadMinerException>(() => PromptPairSet.Load(dir.File("a.json"))).Message);
        File.WriteAllText(dir.File("b.json"), "{\"version\": 1, \"pairs\": [");
        Assert.Contains("not a valid prompt-pair file", Assert.Throws<HeadMinerException>(() => PromptPairSet.Load(dir.File("b.json"))).Message);
        File.WriteAllText(dir.File("c.json"), "{\"version\": 9, \"pairs\": []}");
        Assert.Contains("version 9", Assert.Throws<HeadMinerException>(() => PromptPairSet.Load(dir.File("c.json"))).Message);
    }

    [Fact]
    public void TokenizingChecksLengthsAndSingleTokenAnswers()
    {
        var uneven = Set(new PromptPair("Lily saw a cat", "Lily saw a big dog", " and", " was"));
        Assert.Contains("same length", Assert.Throws<HeadMinerException>(() => uneven.Tokenize(Tokenizer)).Message.Replace("equal lengths", "same length"));
        var longAnswer = Set(new PromptPair("Lily saw a cat", "Lily saw a dog", " elephant", " was"));
        Assert.Contains("must be exactly one", Assert.Throws<HeadMinerException>(() => longAnswer.Tokenize(Tokenizer)).Message);
        var ok = Set(new PromptPair("Lily saw a cat", "Lily saw a dog", " and", " was")).Tokenize(Tokenizer);
        Assert.Equal(ok.Clean[0].Length, ok.Corrupted[0].Length);
    }

    [Fact]
    public void MetricsOnHandMadeLogits()
    {
        var pairs = new TokenizedPairs([[1, 2, 3], [1, 3, 2]], [[1, 2, 4], [1, 4, 2]], [2, 0], [1, 3]);
        // Two sequences, last-position logits over 4 tokens.
        var logits = Tensor.FromSpan([0, 1, 3, 0, /* */ 2, 0, 0, -1], 2, 1, 4);
        Assert.Equal(((3 - 1) + (2 - -1)) / 2.0, new Metric(MetricKind.LogitDiff, pairs).Compute(logits), 6);
        var p0 = Softmax([0, 1, 3, 0]);
        var p1 = Softmax([2, 0, 0, -1]);
        Assert.Equal(((p0[2] - p0[1]) + (p1[0] - p1[3])) / 2, new Metric(MetricKind.ProbDiff, pairs).Compute(logits), 6);
        var kl = new Metric(MetricKind.KlDivergence, pairs, logits);
        Assert.Equal(0, kl.Compute(logits), 6);
        Assert.True(kl.Compute(Tensor.FromSpan([3, 1, 0, 0, 0, 2, 0, -1], 2, 1, 4)) > 0.1);
        Assert.Equal(0.5, Metric.Normalize(2, 3, 1), 12);
    }

    private static double[] Softmax(double[] x)
    {
        double max = x.Max(), sum = x.Sum(v => Math.Exp(v - max));
        return x.Select(v => Math.Exp(v - max) / sum).ToArray();
    }
}
