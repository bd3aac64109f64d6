using System.Globalization;
using HeadMiner.Models.Tokenizers;
using HeadMiner.Tensors;

namespace HeadMiner.Tasks.Sets;

/// <summary>
/// Successor sequences (the successor-head probe): a run of consecutive items of an ordered list — numbers, days,
/// months, letters — whose next item is the answer (" Monday Tuesday Wednesday Thursday" → " Friday"). The corrupted
/// prompt is a run of the same list from another start, so its next item (the wrong answer) differs. The tokenizer
/// decides which lists take part: a list is used when its items are single tokens with a leading space (numbers:
/// the longest run from 1 that is). Days and months wrap around.
/// </summary>
public sealed class SuccessorSet(int runLength = 4) : TaskSetGenerator
{
    private static readonly (string Name, bool Cyclic, string[] Items)[] Lists =
    [
        ("numbers", false, [.. Enumerable.Range(1, 99).Select(i => i.ToString(CultureInfo.InvariantCulture))]),
        ("days", true, ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]),
        ("months", true, ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]),
        ("letters", false, [.. Enumerable.Range('A', 26).Select(c => ((char)c).ToString())]),
    ];

    public int RunLength { get; } = runLength >= 2 ? runLength : throw new ArgumentOutOfRangeException(nameof(runLength), "a run needs at least 2 items");

    public override string Name => "successor";

    public override string Description => "Successor sequences: numbers, days, months, letters (those the tokenizer keeps whole); corrupted = a run from another start";

    protected override PromptPairSet Build(ITokenizer tokenizer, TaskSetOptions options, SeededRandom random)
    {
        var usable = new List<(string Name, bool Cyclic, string[] Items)>();
        foreach (var (name, cyclic, items) in Lists)
        {
            var single = items.Select(i => TokenChecks.IsSingleWord(tokenizer, i)).ToArray();
            int prefix = Array.IndexOf(single, false) is var k && k >= 0 ? k : items.Length;
            if (name == "numbers" && prefix >= RunLength + 2) usable.Add((name, false, items[..prefix]));
            else if (prefix == items.Length && items.Length >= RunLength + 2) usable.Add((name, cyclic, items));
        }
        if (usable.Count == 0)
            throw new HeadMinerException($"{Name}: no ordered list (numbers, days, months, letters) has enough single-token items for runs of {RunLength} for this tokenizer");

        var collector = new PairCollector(tokenizer, Name, options.Count, options.ContextLength);
        for (int attempt = 0; attempt < options.Count * 20 && !collector.Full; attempt++)
        {
            var (_, cyclic, items) = usable[collector.Count % usable.Count];
            int starts = cyclic ? items.Length : items.Length - RunLength;
            int a = random.NextInt(starts), b = random.NextInt(starts);
            if (a == b) continue;
            collector.TryAdd(new PromptPair(Run(items, a), Run(items, b), " " + Item(items, a + RunLength), " " + Item(items, b + RunLength)));
        }
        return collector.Finish($"Successor sequences, {options.Count} pairs of {RunLength}-item runs from: {string.Join(", ", usable.Select(u => $"{u.Name} ({u.Items.Length})"))}");
    }

    private string Run(string[] items, int start) => string.Concat(Enumerable.Range(start, RunLength).Select(i => " " + Item(items, i)));

    private static string Item(string[] items, int i) => items[i % items.Length];
}
