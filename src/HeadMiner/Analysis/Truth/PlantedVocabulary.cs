using System.Text.RegularExpressions;
using HeadMiner.Models.Tokenizers;
using HeadMiner.Tasks.Sets;

namespace HeadMiner.Analysis.Truth;

/// <summary>
/// A word-level vocabulary holding every word a task set needs, found by generating the set: each word the tokenizer
/// refuses is added and generation is retried, over <see cref="DiscoverySeeds"/> seeds, until every seed builds. Id 0
/// is "&lt;bos&gt;" (BOS, not added by the tokenizer: the detectors prepend it, as for GPT-2). <see cref="Answers"/>
/// are the ids the set uses as answers or wrong answers (for IOI: the names).
/// </summary>
public sealed partial class PlantedVocabulary
{
    /// <summary>Task-set seeds the vocabulary is complete for (the bench and tests run detectors with seeds below this).</summary>
    public const int DiscoverySeeds = 32;

    // The generators look their names, places and list items up in the vocabulary (a missing one is skipped, not
    // reported), so those start the vocabulary; the template words are then found by generating.
    private static readonly Lazy<PlantedVocabulary> IoiVocabulary = new(() => Discover(new IoiSet(), 32, [.. FirstNames.All.Take(60), .. IoiSet.Fillers]));
    private static readonly Lazy<PlantedVocabulary> SuccessorVocabulary = new(() => Discover(new SuccessorSet(), 32,
        [.. SuccessorSet.Items("numbers", "days", "months", "letters").Where(w => w != "0")]));

    private PlantedVocabulary(WordLevelTokenizer tokenizer, IReadOnlySet<int> answers)
    {
        Tokenizer = tokenizer;
        Answers = answers;
    }

    public WordLevelTokenizer Tokenizer { get; }
    public IReadOnlySet<int> Answers { get; }
    public int Size => Tokenizer.VocabSize;

    /// <summary>The vocabulary of the IOI task set (names, places, objects, template words).</summary>
    public static PlantedVocabulary Ioi => IoiVocabulary.Value;

    /// <summary>The vocabulary of the successor task set (numbers 1–99, days, months, letters).</summary>
    public static PlantedVocabulary Successor => SuccessorVocabulary.Value;

    public static PlantedVocabulary Discover(TaskSetGenerator generator, int count, IEnumerable<string>? start = null)
    {
        var words = new List<string> { "<bos>", "The" };
        foreach (var w in start ?? []) if (!words.Contains(w)) words.Add(w);
        for (int round = 0; round < 10_000; round++)
        {
            var tokenizer = Build(words);
            string? missing = null;
            var answers = new HashSet<int>();
            for (ulong seed = 0; seed < DiscoverySeeds && missing is null; seed++)
            {
                try
                {
                    var set = generator.Generate(tokenizer, new TaskSetOptions { Count = count, Seed = seed });
                    foreach (var pair in set.Pairs)
                    {
                        answers.Add(tokenizer.Encode(pair.Answer, false).Single());
                        answers.Add(tokenizer.Encode(pair.Wrong, false).Single());
                    }
                }
                catch (HeadMinerException e) when (Unknown().Match(e.Message) is { Success: true } m)
                {
                    missing = m.Groups[1].Value;
                }
            }
            if (missing is null) return new PlantedVocabulary(tokenizer, answers);
            words.Add(missing);
        }
        throw new HeadMinerException($"planted vocabulary for {generator.Name}: no fixed point after 10000 words");
    }

    private static WordLevelTokenizer Build(List<string> words) => new(
        words.Skip(1).Select((w, i) => (w, i + 1)).ToDictionary(x => x.w, x => x.Item2),
        new Dictionary<string, int> { ["<bos>"] = 0 }, bosId: 0, eosId: null, addsBosByDefault: false, source: "planted vocabulary");

    [GeneratedRegex("\"([^\"]+)\" at character \\d+ is not a word of this vocabulary")]
    private static partial Regex Unknown();
}
