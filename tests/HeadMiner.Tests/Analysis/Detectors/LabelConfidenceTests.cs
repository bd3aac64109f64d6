using System.Text.Json;
using HeadMiner.Analysis.Detectors;
using HeadMiner.Models;
using HeadMiner.Models.Tokenizers;
using HeadMiner.Tasks;
using HeadMiner.Tensors;
using HeadMiner.Tests.Tokenizers;
using static HeadMiner.Tests.CliRunner;

namespace HeadMiner.Tests.Analysis.Detectors;

/// <summary>
/// Labels you can trust: one prompt vocabulary, bootstrap intervals, labels on the interval's lower bound, prompt
/// counts that adapt until the threshold is decided, and `detect` and `atlas` giving the same numbers.
/// </summary>
public class LabelConfidenceTests
{
    private static string Embedded => Path.Combine(TestPaths.RepoRoot, "models", "embedded");

    [Fact]
    public void DetectAndAtlasGiveTheSameScoresAndIntervalsForTheSameSeed()
    {
        using var dir = TestPaths.NewTempDirectory();
        var (code, stdout, stderr) = Run("detect", "-m", Embedded, "-d", "induction,attention_sink", "--seed", "7", "--json", "--top", "12");
        Assert.True(code == 0, stderr);
        var (atlasCode, _, atlasErr) = Run("atlas", "-m", Embedded, "-d", "induction,attention_sink", "--seed", "7", "-o", dir.Path);
        Assert.True(atlasCode == 0, atlasErr);
        using var detect = JsonDocument.Parse(stdout);
        using var atlas = JsonDocument.Parse(File.ReadAllText(dir.File("atlas.json")));
        foreach (var id in new[] { "induction", "attention_sink" })
        {
            var d = detect.RootElement.GetProperty("detectors").EnumerateArray().Single(x => x.GetProperty("id").GetString() == id);
            var a = atlas.RootElement.GetProperty("detectors").EnumerateArray().Single(x => x.GetProperty("id").GetString() == id);
            Assert.Equal(d.GetProperty("sampling").GetString(), a.GetProperty("sampling").GetString());
            var ds = d.GetProperty("scores");
            var scores = a.GetProperty("scores");
            var lows = a.GetProperty("interval_low");
            for (int l = 0; l < 3; l++)
                for (int h = 0; h < 4; h++)
                    Assert.True(Math.Abs(ds[l][h].GetDouble() - scores[l][h].GetDouble()) <= 1e-6, $"{id} L{l}H{h}"); // atlas.json rounds to 6 places
            // Every head detect lists carries the atlas's interval, and is marked labelled exactly when the atlas labels it.
            foreach (var top in d.GetProperty("top").EnumerateArray())
            {
                int l = top.GetProperty("layer").GetInt32(), h = top.GetProperty("head").GetInt32();
                Assert.True(Math.Abs(lows[l][h].GetDouble() - top.GetProperty("interval")[0].GetDouble()) <= 1e-6, $"{id} L{l}H{h} interval");
                string type = a.GetProperty("head_type").GetString()!;
                bool labelled = atlas.RootElement.GetProperty("heads").EnumerateArray()
                    .Single(x => x.GetProperty("layer").GetInt32() == l && x.GetProperty("head").GetInt32() == h)
                    .GetProperty("labels").EnumerateArray().Any(x => x.GetProperty("type").GetString() == type);
                Assert.Equal(labelled, top.GetProperty("labelled").GetBoolean());
            }
        }
        // detect honours the model's headminer.json as atlas does (it did not: induction L2H2 scored 0.23 against 0.72).
        Assert.Contains("headminer.json", detect.RootElement.GetProperty("setup")[0].GetString());
    }

    [Fact]
    public void IntervalsNarrowAsPromptsGrow()
    {
        using var loaded = ModelLoader.Load(Embedded);
        var (options, _) = new DetectorOptions { Seed = 3 }.ForModel(loaded);
        double MeanWidth(int prompts)
        {
            var context = new DetectorContext(loaded.Model, loaded.Tokenizer, options with { Prompts = prompts, MaxPrompts = prompts });
            var result = DetectorRunner.Run(new InductionDetector(), context);
            Assert.Contains($"{prompts} prompts", result.Sampling);
            double sum = 0;
            for (int l = 0; l < result.Layers; l++)
                for (int h = 0; h < result.Heads; h++)
                {
                    var (low, high) = result.Interval(l, h);
                    Assert.True(low <= result.Score(l, h) + 1e-6 && result.Score(l, h) <= high + 1e-6, $"L{l}H{h} score outside its interval");
                    sum += high - low;
                }
            return sum / (result.Layers * result.Heads);
        }
        double few = MeanWidth(4), many = MeanWidth(64);
        // Widths shrink like 1/√n: 16× the prompts, about a quarter of the width; at least half as wide allowing for noise.
        Assert.True(many < few / 2, $"mean width {few:0.0000} with 4 prompts, {many:0.0000} with 64");
    }

    [Fact]
    public void TheBootstrapIsSeededBracketsTheScoreAndCollapsesOnOneUnit()
    {
        var random = new SeededRandom(5);
        int units = 23, heads = 3;
        var num = new double[units][];
        var den = new double[units][];
        for (int u = 0; u < units; u++)
        {
            den[u] = [.. Enumerable.Range(0, heads).Select(_ => 1 + random.NextDouble())];
            num[u] = [.. den[u].Select((d, k) => d * Math.Min(1, (0.2 + 0.3 * k) + 0.2 * random.NextDouble()))];
        }
        var samples = ScoreSamples.Ratio("prompts", num, den, grows: true);
        var point = samples.Rescore(Enumerable.Repeat(1.0, units).ToArray());
        for (int k = 0; k < heads; k++)
            Assert.Equal(Enumerable.Range(0, units).Sum(u => num[u][k]) / Enumerable.Range(0, units).Sum(u => den[u][k]), point[k], 12);
        var (low, high) = ScoreIntervals.Bootstrap(samples, 1, heads, 1000, seed: 9);
        var (low2, high2) = ScoreIntervals.Bootstrap(samples, 1, heads, 1000, seed: 9);
        var (low3, _) = ScoreIntervals.Bootstrap(samples, 1, heads, 1000, seed: 10);
        Assert.Equal(low.ToArray(), low2.ToArray());
        Assert.Equal(high.ToArray(), high2.ToArray());
        Assert.NotEqual(low.ToArray(), low3.ToArray());
        for (int k = 0; k < heads; k++)
        {
            Assert.True(low[0, k] < point[k] && point[k] < high[0, k], $"head {k}: {point[k]} outside [{low[0, k]}, {high[0, k]}]");
            Assert.True(high[0, k] - low[0, k] < 0.2, "23 units with spread 0.2 give a narrow interval");
        }
        var one = ScoreSamples.Mean("prompts", [[0.25, 0.5, 0.75]], grows: true);
        var (l1, h1) = ScoreIntervals.Bootstrap(one, 1, 3, 200, seed: 1);
        Assert.Equal(new[] { 0.25f, 0.5f, 0.75f }, l1.ToArray());
        Assert.Equal(l1.ToArray(), h1.ToArray());
    }

    [Fact]
    public void AHeadIsLabelledOnlyWhenItsLowerBoundClearsTheThreshold()
    {
        var scores = Tensor.Zeros(1, 3);
        (scores[0, 0], scores[0, 1], scores[0, 2]) = (0.6f, 0.6f, 0.4f);
        var low = Tensor.Zeros(1, 3);
        (low[0, 0], low[0, 1], low[0, 2]) = (0.55f, 0.45f, 0.35f);
        var high = Tensor.Zeros(1, 3);
        (high[0, 0], high[0, 1], high[0, 2]) = (0.65f, 0.7f, 0.45f);
        var result = new DetectorResult
        {
            DetectorId = "x",
            Scores = scores,
            Threshold = 0.5f,
            ThresholdReason = "test",
            Evidence = [new HeadEvidence(0, 0, ""), new HeadEvidence(0, 1, ""), new HeadEvidence(0, 2, "")],
            Processing = WeightProcessing.None,
        };
        Assert.Equal([0, 1], result.Labelled().Select(x => x.Head));
        var bounded = result with { Low = low, High = high };
        Assert.Equal([0], bounded.Labelled().Select(x => x.Head));
        Assert.Equal([1], bounded.Undecided().Select(x => x.Head));
        Assert.False(bounded.IsUndecided(0, 2));
    }

    /// <summary>One head whose per-prompt values are Bernoulli(p) draws, seeded: its score converges to p.</summary>
    private sealed class CoinDetector(double p) : IHeadDetector
    {
        public int Runs { get; private set; }
        public string Id => "coin";
        public string Description => "test";
        public DetectorKind Kind => DetectorKind.AttentionPattern;
        public string? CannotRun(DetectorContext context) => null;

        public DetectorResult Run(DetectorContext context, IProgress<double>? progress = null, CancellationToken cancel = default)
        {
            Runs++;
            var random = new SeededRandom(context.Options.Seed);
            var values = Enumerable.Range(0, context.Options.Prompts).Select(_ => new[] { random.NextDouble() < p ? 1.0 : 0.0 }).ToArray();
            var scores = Tensor.Zeros(1, 1);
            scores[0, 0] = (float)values.Average(v => v[0]);
            return new DetectorResult
            {
                DetectorId = Id,
                Scores = scores,
                Threshold = 0.5f,
                ThresholdReason = "test",
                Evidence = [new HeadEvidence(0, 0, "")],
                Processing = WeightProcessing.None,
                Samples = ScoreSamples.Mean("prompts", values, grows: true),
            };
        }
    }

    [Fact]
    public void PromptsDoubleUntilTheThresholdIsDecidedOrTheBudgetIsReached()
    {
        using var loaded = ModelLoader.Load(Embedded);
        var context = new DetectorContext(loaded.Model, loaded.Tokenizer, new DetectorOptions { Prompts = 8, MaxPrompts = 256, Seed = 2 });
        var clear = new CoinDetector(0.97);
        var decided = DetectorRunner.Run(clear, context);
        Assert.StartsWith("decided at", decided.Sampling);
        Assert.Single(decided.Labelled());

        // A head that sits on the threshold can never be decided: the run stops at the budget and says so.
        var coin = new CoinDetector(0.5);
        var budget = DetectorRunner.Run(coin, context with { Options = context.Options with { MaxPrompts = 64 } });
        Assert.Equal(4, coin.Runs); // 8, 16, 32, 64
        Assert.StartsWith("budget of 64 prompts reached at 64 prompts: 1 head(s) undecided", budget.Sampling);
        Assert.Empty(budget.Labelled());
    }

    [Fact]
    public void RandomTokenPromptsDrawOnlyTokensTheTokenizerProducesForText()
    {
        var stories = SentencePieceBpeTokenizer.FromLlama2cFile(TokenizerTestFiles.SharedFile("stories260K", "tok512.bin"));
        var classes = PromptVocabulary.Classify(stories);
        int byteA = stories.TokenToId("<0x41>") ?? throw new InvalidOperationException("tok512 has no <0x41>");
        Assert.Equal(PromptVocabulary.Exclusion.ByteFallback, classes[byteA]);
        Assert.Equal(PromptVocabulary.Exclusion.Special, classes[stories.BosId!.Value]);
        int lily = stories.Encode("Lily", addBos: false).Single();
        Assert.Equal(PromptVocabulary.Exclusion.None, classes[lily]);
        // Every ordinary piece is one the tokenizer emits: its text, alone or after a word, encodes back to it.
        var ordinary = PromptVocabulary.Ordinary(stories, stories.VocabSize);
        Assert.InRange(ordinary.Length, 200, 300);
        Assert.DoesNotContain(ordinary, id => stories.TokenToString(id).StartsWith("<0x", StringComparison.Ordinal));

        var gpt2 = TokenizerLoader.Load(TokenizerTestFiles.Gpt2Directory);
        var g = PromptVocabulary.Classify(gpt2);
        Assert.Equal(PromptVocabulary.Exclusion.None, g[gpt2.Encode(" the", false).Single()]);
        Assert.Equal(PromptVocabulary.Exclusion.Control, g[gpt2.Encode("\n", false).Single()]);
        Assert.Equal(PromptVocabulary.Exclusion.Special, g[50256]);
        Assert.Equal(PromptVocabulary.Exclusion.PartialCharacter, g[gpt2.TokenToId("\u00e2")!.Value]); // byte 0xE2 alone: a third of "—"
        Assert.Contains("ordinary text", PromptVocabulary.Summary(gpt2, 50257));

        // The embedded toy vocabulary (word-level: it cannot spell " the") still classifies its words as ordinary.
        using var embedded = ModelLoader.Load(Embedded);
        var toy = PromptVocabulary.Ordinary(embedded.Tokenizer!, embedded.Model.Config.VocabSize);
        Assert.Contains(embedded.Tokenizer!.TokenToId("w0")!.Value, toy);
    }

    [Fact]
    public void EveryScoreThatComesFromPromptsCarriesAnInterval()
    {
        // A random GPT-2-shaped model with the real GPT-2 tokenizer: every detector runs on it.
        var config = HeadMiner.Tests.Models.TinyModels.Gpt2Like(layers: 2) with
        {
            VocabSize = 50257,
            DModel = 48,
            Heads = 3,
            KvHeads = 3,
            DHead = 16,
            DMlp = 64,
            ContextLength = 160,
            AttentionScale = 0.25f,
        };
        using var model = new Transformer(config, RandomWeights.Create(config, 5, 0.1f), "random-gpt2-shaped");
        var context = new DetectorContext(model, TokenizerLoader.Load(TokenizerTestFiles.Gpt2Directory), new DetectorOptions { Prompts = 4, MaxPrompts = 4, Seed = 2 });
        string[] exact = ["ov_copying", "negative_copying", "k_composition"];
        foreach (var detector in DetectorRegistry.All)
        {
            Assert.Null(detector.CannotRun(context));
            var result = DetectorRunner.Run(detector, context);
            if (exact.Contains(detector.Id))
            {
                Assert.Null(result.Samples);
                Assert.StartsWith("exact", result.Sampling);
                continue;
            }
            Assert.True(result.Samples is { Count: >= 2 }, $"{detector.Id} has no bootstrap units");
            Assert.NotNull(result.Low);
            for (int l = 0; l < config.Layers; l++)
                for (int h = 0; h < config.Heads; h++)
                {
                    float score = result.Score(l, h);
                    if (float.IsNaN(score)) continue;
                    var (low, high) = result.Interval(l, h);
                    Assert.True(low <= score + 1e-5 && score <= high + 1e-5, $"{detector.Id} L{l}H{h}: {score} outside [{low}, {high}]");
                }
        }
    }
}
