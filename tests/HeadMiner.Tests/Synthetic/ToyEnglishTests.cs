using HeadMiner.Analysis.Detectors;
using HeadMiner.Models.Tokenizers;
using HeadMiner.Tasks.Sets;
using HeadMiner.Tasks.Synthetic;

namespace HeadMiner.Tests.Synthetic;

public class ToyEnglishTests
{
    private static readonly Lazy<ToyEnglish> English = new(() => new ToyEnglish(new ToyEnglishOptions { PoolSets = 16 }));

    [Fact]
    public void TheToyLanguageIdsAreUnchangedAndTheEnglishWordsFollow()
    {
        var english = English.Value;
        var toy = new ToyVocabulary();
        for (int id = 0; id < toy.Size; id++) Assert.Equal(toy.TokenToString(id), english.Vocabulary[id]);
        Assert.Equal("Lily", english.Vocabulary[toy.Size]);
        Assert.Equal(english.Vocabulary.Count, english.Vocabulary.Distinct().Count());
        Assert.Equal(english.Size, english.Tokenizer.VocabSize);
    }

    [Fact]
    public void PunctuationIsItsOwnTokenAndAYearIsTwo()
    {
        var t = English.Value.Tokenizer;
        Assert.Equal(["When", "Mary", "and", "John", "went", "to", "the", "store", ",", "John", "gave", "a", "drink", "to"],
            t.Tokens("When Mary and John went to the store, John gave a drink to"));
        Assert.Equal(["from", "the", "year", "17", "32", "to", "the", "year", "17"], t.Tokens("from the year 1732 to the year 17"));
        Assert.Equal(["is", "47", "."], t.Tokens("is 47."));
        Assert.Equal(["17", "32", "."], t.Tokens("1732."));
        // Toy-language tokens with digits stay whole: only a word of exactly four digits is a year.
        Assert.Equal(["w17", "n99", "m3", "Mon"], t.Tokens("w17 n99 m3 Mon"));
        var e = Assert.Throws<HeadMinerException>(() => t.Encode("Mary gave a zyzzyva"));
        Assert.Contains("\"zyzzyva\" at character 12", e.Message);
    }

    [Fact]
    public void TheTokenizerJsonLoadsAsTheInMemoryTokenizer()
    {
        var english = English.Value;
        using var dir = TestPaths.NewTempDirectory();
        string path = dir.File("tokenizer.json");
        File.WriteAllText(path, english.TokenizerJson());
        var loaded = HuggingFaceTokenizerJson.Load(path);
        Assert.Equal(english.Size, loaded.VocabSize);
        Assert.True(loaded.AddsBosByDefault);
        const string text = "Question: Which of these is a fruit?\nA. dog\nB. apple\nC. red\nD. car\nAnswer: The war lasted from the year 1732 to the year 17";
        Assert.Equal(english.Tokenizer.Encode(text), loaded.Encode(text));
    }

    /// <summary>The fixed word list is complete: every task set the atlas uses builds for the seeds the tests and the atlas use.</summary>
    [Fact]
    public void EveryTaskSetAndTheSampleTextBuildFromTheVocabulary()
    {
        var t = English.Value.Tokenizer;
        var generators = TaskSets.All.Where(g => g.Name != "repeated_tokens")
            .Concat([new NeedleInHaystackSet(haystackTokens: 20), new NeedleInHaystackSet(haystackTokens: 64)]);
        foreach (var g in generators)
        {
            for (ulong seed = 0; seed < 8; seed++)
            {
                var set = g.Generate(t, new TaskSetOptions { Count = 16, Seed = seed, ContextLength = 128 });
                Assert.Equal(16, set.Pairs.Count);
            }
        }
        // The repeated-tokens set draws from the words the model's headminer.json declares (w0…w191).
        var words = Enumerable.Range(4, 192).ToHashSet();
        Assert.Equal(16, new RepeatedTokensSet().Generate(t, new TaskSetOptions { Count = 16, ContextLength = 128, PromptTokens = words }).Pairs.Count);
        foreach (string passage in SampleText.Passages) Assert.NotEmpty(t.Encode(passage));
        // "Many names": the IOI set draws from all 50.
        Assert.Equal(50, TaskSetNames(t));
    }

    private static int TaskSetNames(ITokenizer t)
    {
        var set = new IoiSet().Generate(t, new TaskSetOptions { Count = 2 });
        return int.Parse(System.Text.RegularExpressions.Regex.Match(set.Description ?? "", @"over (\d+) single-token names").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public void SequencesMixTaskSpansEndingInTheirAnswerWithToyLanguageSpans()
    {
        var english = English.Value;
        var data = english.Generate(64, 129, seed: 5);
        var kinds = new HashSet<PredictionKind>();
        int taskSpans = 0;
        for (int s = 0; s < data.Count; s++)
        {
            Assert.Equal(ToyVocabulary.Bos, data.Tokens[s][0]);
            foreach (var span in data.Spans[s])
            {
                if (span.Component != SyntheticComponent.Task) continue;
                taskSpans++;
                var labels = data.Labels[s][span.Start..span.End];
                Assert.All(labels[..^1], l => Assert.Equal(PredictionKind.Prompt, l));
                kinds.Add(labels[^1]);
            }
        }
        Assert.True(taskSpans > 64, $"{taskSpans} task spans in 64 sequences");
        Assert.Equal(ToyEnglish.Tasks.Select(t => t.Kind).ToHashSet(), kinds);
        Assert.Contains(data.Spans.SelectMany(x => x), sp => sp.Component == SyntheticComponent.RepeatedSegments);
        // Same seed, same data.
        Assert.Equal(data.Tokens, english.Generate(64, 129, seed: 5).Tokens);
    }

    [Fact]
    public void AnIoiSpanIsThePromptFollowedByTheIndirectObject()
    {
        var english = English.Value;
        var data = english.Generate(64, 129, seed: 9);
        int checkedSpans = 0;
        for (int s = 0; s < data.Count; s++)
        {
            foreach (var span in data.Spans[s])
            {
                if (span.Component != SyntheticComponent.Task || data.Labels[s][span.End - 1] != PredictionKind.Ioi) continue;
                var words = data.Tokens[s][span.Start..span.End].Select(id => english.Vocabulary[id]).ToArray();
                // The answer is the one name of the first clause that is not repeated as the subject.
                Assert.Equal(1, words[..^1].Count(w => w == words[^1]));
                Assert.Contains(words[..^1], n => char.IsUpper(n[0]) && words[..^1].Count(x => x == n) == 2);
                checkedSpans++;
            }
        }
        Assert.True(checkedSpans > 5);
    }

    [Fact]
    public void AGreaterThanSpanEndsInALaterYearMostOftenTheNextOnes()
    {
        // "… from the year 17 32 to the year 17" → a year after 32, YY + k with probability ∝ 1/k (ToyEnglishOptions.NearYears).
        var english = English.Value;
        var data = english.Generate(600, 129, seed: 13);
        var distances = new List<int>();
        for (int s = 0; s < data.Count; s++)
            foreach (var span in data.Spans[s])
            {
                if (span.Component != SyntheticComponent.Task || data.Labels[s][span.End - 1] != PredictionKind.GreaterThan) continue;
                var words = data.Tokens[s][span.Start..span.End].Select(id => english.Vocabulary[id]).ToArray();
                Assert.Equal(["to", "the", "year"], words[^5..^2]);
                Assert.Equal(words[^7], words[^2]); // the century, twice
                int yy = int.Parse(words[^6], System.Globalization.CultureInfo.InvariantCulture), answer = int.Parse(words[^1], System.Globalization.CultureInfo.InvariantCulture);
                distances.Add(answer - yy);
            }
        Assert.True(distances.Count > 200, $"{distances.Count} Greater-Than spans");
        Assert.All(distances, k => Assert.InRange(k, 1, 99));
        // With p(k) ∝ 1/k over up to ~60 later years, k = 1 is about a fifth of the draws and k ≤ 10 about two thirds;
        // uniform draws would give ~2% and ~20%.
        double one = distances.Count(k => k == 1) / (double)distances.Count, ten = distances.Count(k => k <= 10) / (double)distances.Count;
        Assert.InRange(one, 0.12, 0.35);
        Assert.InRange(ten, 0.5, 0.85);
        Assert.Contains(distances, k => k > 30);
    }
}
