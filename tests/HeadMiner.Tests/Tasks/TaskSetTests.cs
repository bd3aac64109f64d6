using System.Text.Json;
using HeadMiner.Models.Tokenizers;
using HeadMiner.Tasks;
using HeadMiner.Tasks.Sets;

namespace HeadMiner.Tests.Tasks;

/// <summary>The task-set generators against the real GPT-2 and stories260K tokenizers from ../shared.</summary>
public class TaskSetTests
{
    private static readonly Lazy<ITokenizer> Gpt2Lazy = new(() => TokenizerLoader.Load(TestPaths.SharedModel("gpt2-small-attention-only")));
    private static readonly Lazy<ITokenizer> StoriesLazy = new(() => TokenizerLoader.Load(Path.Combine(TestPaths.SharedModel("stories260K"), "stories260K.bin")));
    private static ITokenizer Gpt2 => Gpt2Lazy.Value;
    private static ITokenizer Stories => StoriesLazy.Value;

    private static PromptPairSet Make(string name, int count = 7, ulong seed = 3, int? context = null) =>
        TaskSets.Find(name)!.Generate(Gpt2, new TaskSetOptions { Count = count, Seed = seed, ContextLength = context });

    private static int OneToken(string text)
    {
        var ids = Gpt2.Encode(text);
        Assert.True(ids.Length == 1, $"\"{text}\" is {ids.Length} tokens");
        return ids[0];
    }

    private static int[] Differences(PromptPair p)
    {
        var c = Gpt2.Encode(p.Clean);
        var x = Gpt2.Encode(p.Corrupted);
        Assert.Equal(c.Length, x.Length);
        return [.. Enumerable.Range(0, c.Length).Where(i => c[i] != x[i])];
    }

    [Fact]
    public void EverySetBuildsForGpt2AndTokenizesAsOnePatchableBatch()
    {
        foreach (var generator in TaskSets.All)
        {
            var set = generator.Generate(Gpt2, new TaskSetOptions { Count = 7, Seed = 11, ContextLength = 1024 });
            Assert.Equal(generator.Name, set.Task);
            Assert.Equal(7, set.Pairs.Count);
            var tokenized = set.Tokenize(Gpt2, generator.Name); // throws unless equal lengths and single-token answers
            Assert.All(set.Pairs, p => Assert.All(p.Positions?.Values ?? [], v => Assert.InRange(v, 0, tokenized.Length - 1)));
            Assert.All(Enumerable.Range(0, 7), i => Assert.NotEqual(tokenized.Answers[i], tokenized.Wrongs[i]));
            Assert.Equal(7, set.Pairs.Select(p => p.Clean + p.Corrupted).Distinct().Count());
            Assert.Equal((true, ""), generator.CanBuild(Gpt2, 1024));
        }
    }

    [Fact]
    public void IoiNamesAreSingleTokensAndPositionsPointAtThem()
    {
        var set = Make("ioi", count: 9);
        bool sawAbba = false, sawBaba = false;
        foreach (var p in set.Pairs)
        {
            var ids = Gpt2.Encode(p.Clean);
            var pos = p.Positions!;
            Assert.Equal(OneToken(p.Answer), ids[pos["IO"]]);
            Assert.Equal(OneToken(p.Wrong), ids[pos["S1"]]);
            Assert.Equal(OneToken(p.Wrong), ids[pos["S2"]]);
            Assert.Equal(pos["S1"] + 1, pos["S1+1"]);
            Assert.Equal(ids.Length - 1, pos["END"]);
            Assert.True(pos["S2"] > Math.Max(pos["IO"], pos["S1"]));
            sawAbba |= pos["IO"] < pos["S1"];
            sawBaba |= pos["IO"] > pos["S1"];
            // ABC corruption: exactly the three name slots change.
            Assert.Equal(new[] { pos["IO"], pos["S1"], pos["S2"] }.Order(), Differences(p));
        }
        Assert.True(sawAbba && sawBaba, "both ABBA and BABA orders appear");
    }

    [Fact]
    public void SameSeedGivesTheSameSetAndAnotherSeedAnother()
    {
        foreach (var name in new[] { "ioi", "mcqa", "repeated_tokens" })
        {
            string a = JsonSerializer.Serialize(Make(name, seed: 5)), b = JsonSerializer.Serialize(Make(name, seed: 5));
            string c = JsonSerializer.Serialize(Make(name, seed: 6));
            Assert.Equal(a, b);
            Assert.NotEqual(a, c);
        }
    }

    [Fact]
    public void GreaterThanChangesOnlyTheStartYearAndSplitsTheYearsAtIt()
    {
        foreach (var p in Make("greater_than").Pairs)
        {
            Assert.Equal([p.Positions!["YY"]], Differences(p));
            Assert.EndsWith("01", Gpt2.Decode(Gpt2.Encode(p.Corrupted).AsSpan(0, p.Positions["YY"] + 1)));
            int yy = int.Parse(p.Wrong, System.Globalization.CultureInfo.InvariantCulture);
            Assert.Equal(yy + 1, int.Parse(p.Answer, System.Globalization.CultureInfo.InvariantCulture));
            Assert.Equal(Enumerable.Range(yy + 1, 99 - yy).Select(y => y.ToString("00", System.Globalization.CultureInfo.InvariantCulture)), p.AnswerSet);
            Assert.Equal(yy + 1, p.WrongSet!.Count);
            Assert.Equal(p.Wrong, p.WrongSet[^1]);
        }
    }

    [Fact]
    public void McqaLettersArePositionedAndTheCorruptedSwapsTwoOptions()
    {
        var set = Make("mcqa", count: 8);
        Assert.Equal(["A", "B", "C", "D"], set.Pairs.Select(p => p.Answer.Trim()).Distinct().Order());
        foreach (var p in set.Pairs)
        {
            var ids = Gpt2.Encode(p.Clean);
            foreach (var letter in new[] { "A", "B", "C", "D" }) Assert.Equal(letter, Gpt2.TokenToString(ids[p.Positions![letter]]));
            Assert.Equal(p.Positions!["CORRECT"], p.Positions[p.Answer.Trim()]);
            Assert.Equal(2, Differences(p).Length);
            Assert.Contains(" " + p.Answer.Trim() + ".", " " + p.Clean.Replace("\n", " ", StringComparison.Ordinal));
        }
    }

    [Fact]
    public void YesNoPromptsHoldTheOptionsAndFlipTheAnswer()
    {
        var set = Make("yes_no", count: 6);
        Assert.Equal(3, set.Pairs.Count(p => p.Answer == " Yes"));
        foreach (var p in set.Pairs)
        {
            var ids = Gpt2.Encode(p.Clean);
            Assert.Equal(OneToken(" Yes"), ids[p.Positions!["YES"]]);
            Assert.Equal(OneToken(" No"), ids[p.Positions["NO"]]);
            Assert.Single(Differences(p));
        }
    }

    [Fact]
    public void AcronymLettersAreTheWordsInitialsAndTheCorruptedChangesOnlyTheThirdWord()
    {
        // GPT-2 and the toy English spell the acronym differently ("(CP" where each letter stays a token, else
        // "( C P"); the positions and the answer must mean the same in both.
        var toy = new HeadMiner.Tasks.Synthetic.ToyEnglish().Tokenizer;
        foreach (var tokenizer in new ITokenizer[] { Gpt2, toy })
        {
            var set = TaskSets.Find("acronym")!.Generate(tokenizer, new TaskSetOptions { Count = 9, Seed = 5 });
            foreach (var p in set.Pairs)
            {
                var ids = tokenizer.Encode(p.Clean);
                var corrupted = tokenizer.Encode(p.Corrupted);
                string Word(int at) => tokenizer.TokenToString(ids[at]).Trim();
                var initials = new[] { "W1", "W2", "W3" }.Select(w => Word(p.Positions![w])[..1]).ToArray();
                Assert.Equal(initials[0], Word(p.Positions!["L1"]));
                Assert.Equal(initials[1], Word(p.Positions["L2"]));
                Assert.Equal(ids.Length - 1, p.Positions["END"]);
                Assert.Equal(initials[2], p.Answer.Trim());
                // Only W3 differs, and its initial is the wrong answer, different from every letter of the clean acronym.
                var differ = Enumerable.Range(0, ids.Length).Where(i => ids[i] != corrupted[i]).ToArray();
                Assert.Equal([p.Positions["W3"]], differ);
                Assert.Equal(tokenizer.TokenToString(corrupted[differ[0]]).Trim()[..1], p.Wrong.Trim());
                Assert.Equal(4, initials.Append(p.Wrong.Trim()).Distinct().Count());
            }
            Assert.True(set.Pairs.Select(p => p.Answer).Distinct().Count() >= 5, "answers vary");
        }
        // GPT-2 joins capitals ("CP" is one token) and the word-level toy English has no "(CP": both get the spaced
        // spelling, one token per letter.
        Assert.Single(Gpt2.Encode("CP", addBos: false));
        foreach (var tokenizer in new ITokenizer[] { Gpt2, toy })
            Assert.All(TaskSets.Find("acronym")!.Generate(tokenizer, new TaskSetOptions { Count = 9, Seed = 5 }).Pairs, p => Assert.Matches(@" \( [A-Z] [A-Z]$", p.Clean));
    }

    [Fact]
    public void NeedleChangesOnlyTheNumberAndStaysInsideTheContext()
    {
        var set = Make("needle", count: 5, context: 97);
        var depths = new List<int>();
        foreach (var p in set.Pairs)
        {
            var ids = Gpt2.Encode(p.Clean);
            Assert.True(ids.Length < 97, $"{ids.Length} tokens in a 97-token context");
            Assert.Equal(OneToken(p.Answer), ids[p.Positions!["NEEDLE"]]);
            Assert.Equal([p.Positions["NEEDLE"]], Differences(p));
            depths.Add(p.Positions["NEEDLE"]);
        }
        Assert.Equal(depths.Order(), depths);
        Assert.True(depths[^1] > depths[0] + 20, "depths spread from the start to the end of the haystack");
        var e = Assert.Throws<HeadMinerException>(() => Make("needle", context: 24));
        Assert.Contains("24-token context", e.Message);
    }

    [Fact]
    public void RepeatedTokensStartWithBosAndRepeatTheSegment()
    {
        foreach (var p in Make("repeated_tokens").Pairs)
        {
            var ids = Gpt2.Encode(p.Clean);
            int first = p.Positions!["FIRST"], second = p.Positions["SECOND"];
            Assert.Equal(Gpt2.BosId, ids[0]);
            Assert.Equal(1, first);
            Assert.Equal(ids[first..second].AsSpan(0, ids.Length - second).ToArray(), ids[second..]);
            Assert.Equal(OneToken(p.Answer), ids[second - 1]);
            Assert.Equal(Enumerable.Range(second, ids.Length - second), Differences(p));
        }
    }

    [Fact]
    public void SuccessorAnswersAreTheNextItems()
    {
        foreach (var p in Make("successor", count: 8).Pairs)
        {
            var items = p.Clean.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (int.TryParse(items[^1], System.Globalization.CultureInfo.InvariantCulture, out int n)) Assert.Equal($" {n + 1}", p.Answer);
            else if (items[^1].Length == 1) Assert.Equal($" {(char)(items[^1][0] + 1)}", p.Answer);
            Assert.Equal(items.Length, Gpt2.Encode(p.Clean).Length);
        }
    }

    [Fact]
    public void IoiBuildsForStoriesFromTheNamesItsVocabularyKeeps()
    {
        var set = TaskSets.Find("ioi")!.Generate(Stories, new TaskSetOptions { Count = 8, Seed = 1, ContextLength = 512 });
        var tokenized = set.Tokenize(Stories, "ioi");
        Assert.Contains("over 3 single-token names", set.Description);
        foreach (var p in set.Pairs)
        {
            var ids = Stories.Encode(p.Clean);
            var corrupted = Stories.Encode(p.Corrupted);
            var pos = p.Positions!;
            Assert.Contains(p.Answer, new[] { " Lily", " Tim", " Timmy" });
            Assert.Equal(p.Answer, Stories.TokenToString(ids[pos["IO"]]));
            Assert.Equal(p.Wrong, Stories.TokenToString(ids[pos["S1"]]));
            Assert.Equal(p.Wrong, Stories.TokenToString(ids[pos["S2"]]));
            // ABC with only three names: each name slot still changes, and only the name slots do.
            Assert.Equal(new[] { pos["IO"], pos["S1"], pos["S2"] }.Order(), Enumerable.Range(0, ids.Length).Where(i => ids[i] != corrupted[i]));
        }
        Assert.Equal(8, set.Pairs.Count);
    }

    [Fact]
    public void AVocabularyWithTooFewNamesGetsAReasonNamingThem()
    {
        // A word-level vocabulary that spells the check sentence and the IOI words, but knows only two names.
        string[] words = ["The", "cat", "sat", "on", "the", "mat,", "and", "then", "it", "went", "to", "park.", "Then,", "store.", "gave", "a", "drink", "Lily", "Tim"];
        var tokenizer = new WordLevelTokenizer(words.Select((w, i) => (w, i + 1)).ToDictionary(x => x.w, x => x.Item2), new Dictionary<string, int> { ["<bos>"] = 0 }, 0, null, false);
        var (ok, reason) = TaskSets.Find("ioi")!.CanBuild(tokenizer);
        Assert.False(ok);
        Assert.Equal("ioi needs 3 single-token names; found 2 in this vocabulary: Lily, Tim", reason);
    }

    [Fact]
    public void SetsThatCannotBeBuiltForStoriesOrTheToyModelSayWhy()
    {
        var e = Assert.Throws<HeadMinerException>(() => TaskSets.Find("greater_than")!.Generate(Stories, new TaskSetOptions()));
        Assert.Equal("greater_than needs the 100 two-digit years 00–99 as single tokens (the answer sets); found 0 in this vocabulary", e.Message);
        Assert.Equal((false, "mcqa needs 4 single-token answer letters; found 1 in this vocabulary: B"), TaskSets.Find("mcqa")!.CanBuild(Stories, 512));
        Assert.Equal((true, ""), TaskSets.Find("repeated_tokens")!.CanBuild(Stories, 512));
        // stories260K keeps " a" … " h" whole: the successor set runs on lowercase letters.
        var successor = TaskSets.Find("successor")!.Generate(Stories, new TaskSetOptions { Count = 4, ContextLength = 512 });
        Assert.Contains("lowercase letters", successor.Description);
        Assert.All(successor.Pairs, p => Assert.Equal(5, Stories.Encode(p.Clean).Length)); // BOS + 4 items, no stray space

        // The toy language alone (w17, m3, n5, Mon, A) cannot spell English.
        var toy = HeadMiner.Tasks.Synthetic.ToyTokenizer.Create(new HeadMiner.Tasks.Synthetic.ToyVocabulary());
        foreach (var name in new[] { "ioi", "greater_than", "needle", "mcqa", "yes_no" })
        {
            var (ok, reason) = TaskSets.Find(name)!.CanBuild(toy, 256);
            Assert.False(ok);
            Assert.StartsWith($"{name}: this vocabulary cannot spell English text", reason);
        }
        // The toy language counts letters, weekdays and months in its own spelling: the successor set builds on them.
        Assert.Contains("letters", TaskSets.Find("successor")!.Generate(toy, new TaskSetOptions { Count = 4, ContextLength = 256 }).Description);
        // The embedded model's toy English spells every set.
        var english = TokenizerLoader.Load(Path.Combine(TestPaths.RepoRoot, "models", "embedded"));
        foreach (var generator in TaskSets.All.Where(g => g.Name != "repeated_tokens"))
            Assert.Equal((true, ""), generator.CanBuild(english, 128));
    }

    [Fact]
    public void PositionsAndAnswerSetsSurviveTheFileAndOldFilesStillLoad()
    {
        using var dir = TestPaths.NewTempDirectory();
        var set = Make("greater_than", count: 3);
        set.Save(dir.File("gt.json"));
        var back = PromptPairSet.Load(dir.File("gt.json"));
        Assert.Equal(set.Pairs[2].Positions, back.Pairs[2].Positions);
        Assert.Equal(set.Pairs[2].AnswerSet, back.Pairs[2].AnswerSet);
        File.WriteAllText(dir.File("old.json"), """{"version": 1, "pairs": [{"clean": "a b", "corrupted": "a c", "answer": " b", "wrong": " c"}]}""");
        var old = PromptPairSet.Load(dir.File("old.json")).Pairs[0];
        Assert.Null(old.Positions);
        Assert.Null(old.AnswerSet);
        Assert.DoesNotContain("answer_set", JsonSerializer.Serialize(old));
    }
}
